package placement_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/placement"
	"github.com/tenantwall/tenantwall/sqlscope"
)

// rows counts id's rows of table in a side's database, as its owner.
func rows(t *testing.T, s side, table, id string) int {
	t.Helper()
	var n int
	require.NoError(t, s.admin.QueryRowContext(context.Background(), `SELECT count(*) FROM `+table+` WHERE tenant_id = $1`, id).Scan(&n))
	return n
}

// Move finds the tenant tables itself: a table in a schema off the search
// path, and a child whose foreign key cascades and whose name sorts before
// its parents', move with the rest, parents first, and nothing of the
// tenant is left behind. (With a hand-typed list naming leads and notes,
// the first stayed in the source and the second was deleted by the
// cascade, and Move succeeded.)
func TestMoveMovesEveryTenantTable(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	extra := []string{`"audit-trail".events`, "attachments"}
	for _, s := range []side{f.pooled, f.big} {
		_, err := s.admin.ExecContext(ctx, `
CREATE SCHEMA "audit-trail";
CREATE TABLE "audit-trail".events (tenant_id text NOT NULL, id uuid NOT NULL DEFAULT gen_random_uuid(), what text,
	PRIMARY KEY (tenant_id, id));
CREATE TABLE attachments (tenant_id text NOT NULL, id uuid NOT NULL DEFAULT gen_random_uuid(), note_id uuid NOT NULL,
	PRIMARY KEY (tenant_id, id), FOREIGN KEY (tenant_id, note_id) REFERENCES notes (tenant_id, id) ON DELETE CASCADE);
GRANT USAGE ON SCHEMA "audit-trail" TO `+s.role+`;
GRANT SELECT, INSERT, DELETE ON "audit-trail".events, attachments TO `+s.role)
		require.NoError(t, err)
		require.NoError(t, sqlscope.EnableRLS(ctx, s.admin, "", "audit-trail.events", "attachments"))
	}
	a := f.place(t, "pooled", 4)
	b := f.place(t, "pooled", 2)
	for _, c := range []context.Context{a, b} {
		require.NoError(t, f.router.Tx(c, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(c, `INSERT INTO attachments (note_id) SELECT id FROM notes`); err != nil {
				return err
			}
			_, err := tx.ExecContext(c, `INSERT INTO "audit-trail".events (what) SELECT 'lead ' || name FROM leads`)
			return err
		}))
	}
	all := append(append([]string{}, tables...), extra...)
	before := digestOf(t, f.pooled, idOf(a), all...)
	bBefore := digestOf(t, f.pooled, idOf(b), all...)

	require.NoError(t, f.router.Move(platform, idOf(a), "big"))

	where, err := f.dir.Placement(ctx, idOf(a))
	require.NoError(t, err)
	assert.Equal(t, "big", where)
	for _, table := range all {
		assert.Zero(t, rows(t, f.pooled, table, idOf(a)), "none of the tenant's rows of %s is left in the source", table)
		assert.Equal(t, 4, rows(t, f.big, table, idOf(a)), "the tenant's rows of %s are in the destination", table)
	}
	assert.Equal(t, before, digestOf(t, f.big, idOf(a), all...), "every column of every row of every table")
	assert.Equal(t, bBefore, digestOf(t, f.pooled, idOf(b), all...), "the other tenant is untouched")
}

// Move refuses placements that disagree on their tenant tables, before
// anything is copied, and leaves the tenant where it was, unfrozen.
func TestMoveRefusesPlacementsThatDisagree(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a := f.place(t, "pooled", 3)
	before := digest(t, f.pooled, idOf(a))
	cases := []struct {
		name                string
		pooled, big         string // DDL run on each side first
		undoPooled, undoBig string
		target              error
		says                string
	}{
		{name: "a tenant table only the source has",
			pooled: `CREATE TABLE extra (tenant_id text NOT NULL)`, undoPooled: `DROP TABLE extra`,
			target: placement.ErrSchemaMismatch, says: "only pooled has public.extra"},
		{name: "a tenant table only the destination has",
			big: `CREATE SCHEMA other; CREATE TABLE other.extra (tenant_id text NOT NULL)`, undoBig: `DROP SCHEMA other CASCADE`,
			target: placement.ErrSchemaMismatch, says: "only big has other.extra"},
		{name: "a column of another type",
			big: `ALTER TABLE leads ALTER COLUMN score TYPE numeric(12,2)`, undoBig: `ALTER TABLE leads ALTER COLUMN score TYPE numeric(10,2)`,
			target: placement.ErrSchemaMismatch, says: "public.leads has columns (tenant_id text, id uuid, name text, score numeric(10,2), created_at timestamp with time zone) in pooled, (tenant_id text, id uuid, name text, score numeric(12,2), created_at timestamp with time zone) in big"},
		{name: "a column the destination lacks",
			pooled: `ALTER TABLE notes ADD COLUMN pinned boolean`, undoPooled: `ALTER TABLE notes DROP COLUMN pinned`,
			target: placement.ErrSchemaMismatch, says: "pinned boolean) in pooled, (tenant_id text, id uuid, lead_id uuid, body text) in big"},
		{name: "a foreign key the destination lacks",
			big:     `ALTER TABLE notes DROP CONSTRAINT notes_tenant_id_lead_id_fkey`,
			undoBig: `ALTER TABLE notes ADD FOREIGN KEY (tenant_id, lead_id) REFERENCES leads (tenant_id, id)`,
			target:  placement.ErrSchemaMismatch, says: "public.notes references [public.leads] in pooled, [] in big"},
		{name: "foreign keys in a cycle",
			pooled:     `ALTER TABLE leads ADD COLUMN note_id uuid, ADD FOREIGN KEY (tenant_id, note_id) REFERENCES notes (tenant_id, id)`,
			big:        `ALTER TABLE leads ADD COLUMN note_id uuid, ADD FOREIGN KEY (tenant_id, note_id) REFERENCES notes (tenant_id, id)`,
			undoPooled: `ALTER TABLE leads DROP COLUMN note_id`, undoBig: `ALTER TABLE leads DROP COLUMN note_id`,
			target: sqlscope.ErrForeignKeyCycle, says: "public.leads → public.notes → public.leads"},
	}
	for _, c := range cases {
		t.Run(c.name+" is refused and nothing moves", func(t *testing.T) {
			for _, ddl := range []struct {
				s        side
				do, undo string
			}{{f.pooled, c.pooled, c.undoPooled}, {f.big, c.big, c.undoBig}} {
				if ddl.do == "" {
					continue
				}
				_, err := ddl.s.admin.ExecContext(ctx, ddl.do)
				require.NoError(t, err)
				t.Cleanup(func() {
					_, err := ddl.s.admin.ExecContext(ctx, ddl.undo)
					require.NoError(t, err)
				})
			}
			before := digest(t, f.pooled, idOf(a))
			err := f.router.Move(platform, idOf(a), "big")
			require.ErrorIs(t, err, c.target)
			assert.ErrorContains(t, err, c.says)
			where, err := f.dir.Placement(ctx, idOf(a))
			require.NoError(t, err)
			assert.Equal(t, "pooled", where)
			assert.Equal(t, before, digest(t, f.pooled, idOf(a)))
			assert.Zero(t, count(t, f.big, idOf(a)))
			n, err := readAll(a, f.router)
			require.NoError(t, err, "the tenant is not left frozen")
			assert.Equal(t, 3, n)
		})
	}
	t.Run("once the placements agree again the move runs", func(t *testing.T) {
		require.NoError(t, f.router.Move(platform, idOf(a), "big"))
		assert.Equal(t, before, digest(t, f.big, idOf(a)))
	})
}

// A source without tenant tables moves nothing, so Move refuses it rather
// than switch the tenant to an empty placement.
func TestMoveRefusesASourceWithoutTenantTables(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a := f.place(t, "pooled", 1)
	for _, s := range []side{f.pooled, f.big} {
		_, err := s.admin.ExecContext(ctx, `ALTER TABLE notes RENAME COLUMN tenant_id TO owner_id; ALTER TABLE leads RENAME COLUMN tenant_id TO owner_id`)
		require.NoError(t, err)
	}
	err := f.router.Move(platform, idOf(a), "big")
	assert.ErrorContains(t, err, "pooled has no tenant table")
	where, err := f.dir.Placement(ctx, idOf(a))
	require.NoError(t, err)
	assert.Equal(t, "pooled", where)
}
