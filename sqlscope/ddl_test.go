package sqlscope_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/internal/testenv"
	"github.com/tenantwall/tenantwall/sqlscope"
)

// tableState is what EnableRLS changes on a table.
type tableState struct {
	RLS, Forced, NotNull bool
	Default              string
	Policies             int
}

func stateOf(t *testing.T, db *sql.DB, table string) tableState {
	t.Helper()
	var s tableState
	var def sql.NullString
	err := db.QueryRow(`
SELECT c.relrowsecurity, c.relforcerowsecurity, coalesce(a.attnotnull, false), pg_get_expr(d.adbin, d.adrelid),
       (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid)
FROM pg_class c
LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
WHERE c.oid = to_regclass($1)`, table).Scan(&s.RLS, &s.Forced, &s.NotNull, &def, &s.Policies)
	require.NoError(t, err, table)
	s.Default = def.String
	return s
}

// TestEnableRLSRefusesTablesItCannotIsolate gives EnableRLS, together with
// a good table, one table it cannot isolate, and checks the sentinel, the
// SQL in the message, and that neither table nor the guard function was
// changed.
func TestEnableRLSRefusesTablesItCannotIsolate(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name   string
		setup  string // creates table bad (or the object named by table)
		table  string
		target error
		says   []string
	}{
		{"a table without tenant_id", `CREATE TABLE bad (id int)`, "bad",
			sqlscope.ErrNotTenantTable, []string{"public.bad has no tenant_id column", "ALTER TABLE public.bad ADD COLUMN tenant_id text", "UPDATE public.bad SET tenant_id"}},
		{"a table whose tenant_id was dropped", `CREATE TABLE bad (id int, tenant_id text); ALTER TABLE bad DROP COLUMN tenant_id`, "bad",
			sqlscope.ErrNotTenantTable, []string{"no tenant_id column", "ADD COLUMN tenant_id text"}},
		{"a table with a differently cased Tenant_ID", `CREATE TABLE bad (id int, "Tenant_ID" text)`, "bad",
			sqlscope.ErrNotTenantTable, []string{"no tenant_id column"}},
		{"a uuid tenant_id", `CREATE TABLE bad (id int, tenant_id uuid)`, "bad",
			sqlscope.ErrNotTenantTable, []string{"tenant_id is uuid, want text", "ALTER COLUMN tenant_id TYPE text"}},
		{"an integer tenant_id", `CREATE TABLE bad (id int, tenant_id bigint)`, "bad",
			sqlscope.ErrNotTenantTable, []string{"tenant_id is bigint"}},
		{"a tenant_id of a domain over text", `CREATE DOMAIN tid AS text; CREATE TABLE bad (id int, tenant_id tid)`, "bad",
			sqlscope.ErrNotTenantTable, []string{"tenant_id is tid"}},
		{"a table that does not exist", ``, "missing",
			sqlscope.ErrNotTenantTable, []string{"missing does not exist"}},
		{"a table in a schema that does not exist", ``, "nowhere.bad",
			sqlscope.ErrNotTenantTable, []string{"nowhere.bad does not exist"}},
		{"a view", `CREATE TABLE base (id int, tenant_id text); CREATE VIEW bad AS SELECT * FROM base`, "bad",
			sqlscope.ErrNotTenantTable, []string{"public.bad is not a table"}},
		{"a materialized view", `CREATE MATERIALIZED VIEW bad AS SELECT 1 AS id, 'x'::text AS tenant_id`, "bad",
			sqlscope.ErrNotTenantTable, []string{"public.bad is not a table"}},
		{"a row whose tenant_id is NULL", `CREATE TABLE bad (id int, tenant_id text); INSERT INTO bad VALUES (1, 'a'), (2, NULL)`, "bad",
			sqlscope.ErrRowsWithoutTenant, []string{"1 row(s) whose tenant_id is NULL and 0 whose tenant_id is empty", "UPDATE public.bad SET tenant_id = … WHERE tenant_id IS NULL OR tenant_id = ''"}},
		{"a row whose tenant_id is empty", `CREATE TABLE bad (id int, tenant_id varchar(36)); INSERT INTO bad VALUES (1, 'a'), (2, ''), (3, '')`, "bad",
			sqlscope.ErrRowsWithoutTenant, []string{"0 row(s) whose tenant_id is NULL and 2 whose tenant_id is empty"}},
		{"a forced table, owner included, with empty tenant_ids", `CREATE TABLE bad (id int, tenant_id text); INSERT INTO bad VALUES (1, '');
ALTER TABLE bad ENABLE ROW LEVEL SECURITY; ALTER TABLE bad FORCE ROW LEVEL SECURITY`, "bad",
			sqlscope.ErrRowsWithoutTenant, []string{"1 whose tenant_id is empty"}},
		{"a partition's parent with NULLs in a partition", `CREATE TABLE bad (id int, tenant_id text) PARTITION BY RANGE (id);
CREATE TABLE bad_1 PARTITION OF bad FOR VALUES FROM (0) TO (10); INSERT INTO bad VALUES (1, NULL)`, "bad",
			sqlscope.ErrRowsWithoutTenant, []string{"1 row(s) whose tenant_id is NULL"}},
	}
	for _, c := range cases {
		t.Run(c.name+" is refused before anything changes", func(t *testing.T) {
			_, admin := testenv.PostgresDB(t)
			_, err := admin.ExecContext(ctx, `CREATE TABLE good (id int, tenant_id text)`)
			require.NoError(t, err)
			if c.setup != "" {
				_, err = admin.ExecContext(ctx, c.setup)
				require.NoError(t, err)
			}
			var before tableState
			exists := c.setup != ""
			if exists {
				before = stateOf(t, admin, c.table)
			}

			err = sqlscope.EnableRLS(ctx, admin, "", "good", c.table)
			require.ErrorIs(t, err, c.target)
			for _, s := range c.says {
				assert.Contains(t, err.Error(), s)
			}

			assert.Equal(t, tableState{}, stateOf(t, admin, "good"), "the good table was not changed")
			if exists {
				assert.Equal(t, before, stateOf(t, admin, c.table), "the bad table was not changed")
			}
			var guard bool
			require.NoError(t, admin.QueryRow(`SELECT to_regprocedure('tenantwall.current_tenant()') IS NOT NULL`).Scan(&guard))
			assert.False(t, guard, "the guard function was not installed")
		})
	}
}

// TestEnableRLSAcceptsWhatItCanIsolate covers the tables EnableRLS must
// keep accepting: text and varchar columns, quoted names, partitioned
// tables, and a second run over tables it already isolated, rows included.
func TestEnableRLSAcceptsWhatItCanIsolate(t *testing.T) {
	ctx := context.Background()
	_, admin := testenv.PostgresDB(t)
	_, err := admin.ExecContext(ctx, fmt.Sprintf(`
CREATE SCHEMA crm;
CREATE TABLE crm.leads (id int, tenant_id text);
CREATE TABLE "Notes" (id int, tenant_id varchar(36));
CREATE TABLE parts (id int, tenant_id text) PARTITION BY RANGE (id);
CREATE TABLE parts_1 PARTITION OF parts FOR VALUES FROM (0) TO (10);
INSERT INTO crm.leads VALUES (1, '%[1]s'); INSERT INTO "Notes" VALUES (1, '%[1]s'); INSERT INTO parts VALUES (1, '%[1]s');`, hostileA))
	require.NoError(t, err)
	tables := []string{"crm.leads", "Notes", "parts"}
	for run := range 2 {
		require.NoError(t, sqlscope.EnableRLS(ctx, admin, "", tables...), "run %d", run+1)
	}
	for _, table := range []string{"crm.leads", `"Notes"`, "parts"} {
		s := stateOf(t, admin, table)
		assert.True(t, s.RLS && s.Forced && s.NotNull, "%s: %+v", table, s)
		assert.Equal(t, 1, s.Policies, table)
	}

	t.Run("as the owner of a forced table, not a superuser", func(t *testing.T) {
		url, admin := testenv.PostgresDB(t)
		owner, ownerURL := testenv.PostgresRole(t, admin, url)
		_, err := admin.ExecContext(ctx, `GRANT CREATE ON SCHEMA public TO `+owner+`; GRANT CREATE ON DATABASE `+
			mustDBName(t, admin)+` TO `+owner)
		require.NoError(t, err)
		db := open(t, ownerURL)
		_, err = db.ExecContext(ctx, fmt.Sprintf(`CREATE TABLE mine (id int, tenant_id text); INSERT INTO mine VALUES (1, '%s')`, hostileA))
		require.NoError(t, err)
		require.NoError(t, sqlscope.EnableRLS(ctx, db, "", "mine"))
		require.NoError(t, sqlscope.EnableRLS(ctx, db, "", "mine"), "again, on the forced table, as its owner")
		var n int
		require.NoError(t, admin.QueryRow(`SELECT count(*) FROM mine`).Scan(&n))
		assert.Equal(t, 1, n)
	})
}

func mustDBName(t *testing.T, db *sql.DB) string {
	t.Helper()
	var name string
	require.NoError(t, db.QueryRow(`SELECT current_database()`).Scan(&name))
	return name
}
