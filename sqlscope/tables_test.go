package sqlscope_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/internal/testenv"
	"github.com/tenantwall/tenantwall/sqlscope"
)

func names(ts []sqlscope.TenantTable) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Name
	}
	return out
}

// TestTenantTablesFindsEveryTenantTableParentsFirst reads the tenant
// tables the way NewRLS and Audit see them, in every schema whether on
// the search path or not, as the application role, and orders them by
// their foreign keys.
func TestTenantTablesFindsEveryTenantTableParentsFirst(t *testing.T) {
	ctx := context.Background()
	url, admin := testenv.PostgresDB(t)
	_, err := admin.ExecContext(ctx, `
CREATE SCHEMA crm;
CREATE SCHEMA archive;
CREATE TABLE countries (code text PRIMARY KEY);
CREATE TABLE crm.zleads (tenant_id text NOT NULL, id uuid, country text REFERENCES countries, PRIMARY KEY (tenant_id, id));
CREATE TABLE "Notes" (tenant_id text NOT NULL, id uuid, lead_id uuid, body text, score numeric(10,2),
	PRIMARY KEY (tenant_id, id), FOREIGN KEY (tenant_id, lead_id) REFERENCES crm.zleads (tenant_id, id));
CREATE TABLE archive.old_notes (tenant_id text NOT NULL, note_id uuid,
	FOREIGN KEY (tenant_id, note_id) REFERENCES "Notes" (tenant_id, id),
	FOREIGN KEY (tenant_id, note_id) REFERENCES "Notes" (tenant_id, id));
CREATE TABLE events (tenant_id text NOT NULL, at date NOT NULL, lead_id uuid,
	FOREIGN KEY (tenant_id, lead_id) REFERENCES crm.zleads (tenant_id, id)) PARTITION BY RANGE (at);
CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE TABLE dropped (id int, tenant_id text); ALTER TABLE dropped DROP COLUMN tenant_id;
CREATE VIEW lead_view AS SELECT * FROM crm.zleads;
CREATE TABLE tenantwall_placements (owner_id text PRIMARY KEY, placement text);`)
	require.NoError(t, err)
	_, appURL := testenv.PostgresRole(t, admin, url)
	app := open(t, appURL)

	ts, err := sqlscope.TenantTables(ctx, app)
	require.NoError(t, err)
	assert.Equal(t, []string{"crm.zleads", `public."Notes"`, "archive.old_notes", "public.events"}, names(ts),
		"tenant tables in every schema, parents first, ties by name; no partition, view, shared table or table without tenant_id")
	byName := map[string]sqlscope.TenantTable{}
	for _, tt := range ts {
		byName[tt.Name] = tt
	}
	assert.Equal(t, []sqlscope.Column{{"tenant_id", "text"}, {"id", "uuid"}, {"lead_id", "uuid"}, {"body", "text"}, {"score", "numeric(10,2)"}},
		byName[`public."Notes"`].Columns)
	assert.Equal(t, []string{"crm.zleads"}, byName[`public."Notes"`].References)
	assert.Equal(t, []string{`public."Notes"`}, byName["archive.old_notes"].References, "two keys to one parent name it once")
	assert.Empty(t, byName["crm.zleads"].References, "a key to a shared table orders nothing")
	assert.Equal(t, []string{"crm.zleads"}, byName["public.events"].References, "a partitioned table's key, not its partitions' copies")

	t.Run("a cycle between tables is refused, naming it", func(t *testing.T) {
		_, err := admin.ExecContext(ctx, `ALTER TABLE crm.zleads ADD COLUMN note_id uuid, ADD FOREIGN KEY (tenant_id, note_id) REFERENCES "Notes" (tenant_id, id)`)
		require.NoError(t, err)
		t.Cleanup(func() { _, _ = admin.ExecContext(ctx, `ALTER TABLE crm.zleads DROP COLUMN note_id`) })
		_, err = sqlscope.TenantTables(ctx, app)
		require.ErrorIs(t, err, sqlscope.ErrForeignKeyCycle)
		assert.ErrorContains(t, err, `public."Notes" → crm.zleads → public."Notes"`)
	})
	t.Run("a table referencing itself is a cycle too", func(t *testing.T) {
		_, err := admin.ExecContext(ctx, `CREATE TABLE crm.tree (tenant_id text NOT NULL, id uuid, parent uuid, PRIMARY KEY (tenant_id, id),
	FOREIGN KEY (tenant_id, parent) REFERENCES crm.tree (tenant_id, id))`)
		require.NoError(t, err)
		t.Cleanup(func() { _, _ = admin.ExecContext(ctx, `DROP TABLE crm.tree`) })
		_, err = sqlscope.TenantTables(ctx, app)
		require.ErrorIs(t, err, sqlscope.ErrForeignKeyCycle)
		assert.ErrorContains(t, err, "crm.tree → crm.tree")
	})
	t.Run("a schema that LIKE 'pg_temp_%' would match is an ordinary schema, and its tables are tenant tables", func(t *testing.T) {
		_, err := admin.ExecContext(ctx, `CREATE SCHEMA pgxtempx; CREATE SCHEMA "pgAtemp_1";
CREATE TABLE pgxtempx.secrets (tenant_id text NOT NULL); CREATE TABLE "pgAtemp_1".secrets (tenant_id text NOT NULL)`)
		require.NoError(t, err)
		t.Cleanup(func() { _, _ = admin.ExecContext(ctx, `DROP SCHEMA pgxtempx CASCADE; DROP SCHEMA "pgAtemp_1" CASCADE`) })
		ts, err := sqlscope.TenantTables(ctx, app)
		require.NoError(t, err)
		assert.Contains(t, names(ts), "pgxtempx.secrets")
		assert.Contains(t, names(ts), `"pgAtemp_1".secrets`)
	})
	t.Run("another session's temporary table is not a tenant table", func(t *testing.T) {
		conn, err := admin.Conn(ctx)
		require.NoError(t, err)
		t.Cleanup(func() { conn.Close() })
		_, err = conn.ExecContext(ctx, `CREATE TEMP TABLE scratch (tenant_id text NOT NULL)`)
		require.NoError(t, err)
		var schema string
		require.NoError(t, conn.QueryRowContext(ctx, `SELECT pg_my_temp_schema()::regnamespace::text`).Scan(&schema))
		require.Regexp(t, `^pg_temp_[0-9]+$`, schema, "the table is in a temporary schema")
		ts, err := sqlscope.TenantTables(ctx, app)
		require.NoError(t, err)
		assert.NotContains(t, names(ts), schema+".scratch")
	})
	t.Run("a database without tenant tables has none", func(t *testing.T) {
		_, empty := testenv.PostgresDB(t)
		ts, err := sqlscope.TenantTables(ctx, empty)
		require.NoError(t, err)
		assert.Empty(t, ts)
	})
}
