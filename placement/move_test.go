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
// path, one in a schema whose name LIKE 'pg_temp_%' matches (pgxtempx),
// and a child whose foreign key cascades and whose name sorts before its
// parents', move with the rest, parents first, and nothing of the tenant
// is left behind. (With a hand-typed list naming leads and notes, the
// first stayed in the source and the second was deleted by the cascade,
// and Move succeeded; with temporary schemas told by LIKE, pgxtempx's
// rows stayed in the source.)
func TestMoveMovesEveryTenantTable(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	extra := []string{`"audit-trail".events`, "attachments", "pgxtempx.secrets"}
	for _, s := range []side{f.pooled, f.big} {
		_, err := s.admin.ExecContext(ctx, `
CREATE SCHEMA "audit-trail";
CREATE TABLE "audit-trail".events (tenant_id text NOT NULL, id uuid NOT NULL DEFAULT gen_random_uuid(), what text,
	PRIMARY KEY (tenant_id, id));
CREATE TABLE attachments (tenant_id text NOT NULL, id uuid NOT NULL DEFAULT gen_random_uuid(), note_id uuid NOT NULL,
	PRIMARY KEY (tenant_id, id), FOREIGN KEY (tenant_id, note_id) REFERENCES notes (tenant_id, id) ON DELETE CASCADE);
CREATE SCHEMA pgxtempx;
CREATE TABLE pgxtempx.secrets (tenant_id text NOT NULL, id uuid NOT NULL DEFAULT gen_random_uuid(), v text,
	PRIMARY KEY (tenant_id, id));
GRANT USAGE ON SCHEMA "audit-trail", pgxtempx TO `+s.role+`;
GRANT SELECT, INSERT, DELETE ON "audit-trail".events, attachments, pgxtempx.secrets TO `+s.role)
		require.NoError(t, err)
		require.NoError(t, sqlscope.EnableRLS(ctx, s.admin, "", "audit-trail.events", "attachments", "pgxtempx.secrets"))
	}
	a := f.place(t, "pooled", 4)
	b := f.place(t, "pooled", 2)
	for _, c := range []context.Context{a, b} {
		require.NoError(t, f.router.Tx(c, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(c, `INSERT INTO attachments (note_id) SELECT id FROM notes`); err != nil {
				return err
			}
			if _, err := tx.ExecContext(c, `INSERT INTO pgxtempx.secrets (v) SELECT 'lead ' || name FROM leads`); err != nil {
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

// adminExec runs q as a side's owner.
func adminExec(t *testing.T, s side, q string) {
	t.Helper()
	_, err := s.admin.ExecContext(context.Background(), q)
	require.NoError(t, err, q)
}

// Move reads, compares and deletes as the application role under the
// tenant's row level security, so it refuses, before anything is copied,
// tenant tables on which that is not every row of the tenant: a
// restrictive policy or a narrowed policy hides rows (Move copied and
// deleted only the rows it saw, reported success and left the hidden ones
// in the source), and a child table that INHERITS from a tenant table
// shows its rows in its parent's too (Move copied them twice).
func TestMoveRefusesTablesItCannotMoveExactly(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a := f.place(t, "pooled", 2)
	id := idOf(a)
	for _, s := range []side{f.pooled, f.big} {
		adminExec(t, s, `CREATE TABLE docs (tenant_id text NOT NULL, id uuid NOT NULL DEFAULT gen_random_uuid(),
	archived bool NOT NULL DEFAULT false, PRIMARY KEY (tenant_id, id));
CREATE TABLE old_docs (LIKE docs INCLUDING ALL);
GRANT SELECT, INSERT, DELETE ON docs, old_docs TO `+s.role)
		require.NoError(t, sqlscope.EnableRLS(ctx, s.admin, "", "docs", "old_docs"))
	}
	adminExec(t, f.pooled, `INSERT INTO docs (tenant_id, archived) VALUES ('`+id+`', false), ('`+id+`', true);
INSERT INTO old_docs (tenant_id) VALUES ('`+id+`')`)
	const restrictive = `CREATE POLICY hide_archived ON docs AS RESTRICTIVE USING (NOT archived)`
	cases := []struct {
		name                string
		pooled, big         string // DDL run on each side first
		undoPooled, undoBig string
		says                string
	}{
		{name: "a restrictive policy in the source, which hides a row",
			pooled: restrictive, undoPooled: `DROP POLICY hide_archived ON docs`,
			says: "pooled: public.docs has restrictive policies (hide_archived)"},
		{name: "a restrictive policy in the destination",
			big: restrictive, undoBig: `DROP POLICY hide_archived ON docs`,
			says: "big: public.docs has restrictive policies (hide_archived)"},
		{name: "a restrictive policy for another role only",
			pooled: `CREATE POLICY hide_archived ON docs AS RESTRICTIVE TO pg_monitor USING (NOT archived)`, undoPooled: `DROP POLICY hide_archived ON docs`,
			says: "pooled: public.docs has restrictive policies (hide_archived)"},
		{name: "the generated policy narrowed, which hides a row",
			pooled:     `ALTER POLICY tenantwall_isolation ON docs USING (tenant_id = (SELECT tenantwall.current_tenant()) AND NOT archived)`,
			undoPooled: `ALTER POLICY tenantwall_isolation ON docs USING (tenant_id = (SELECT tenantwall.current_tenant()))`,
			says:       "permissive_policy_not_generated public.docs (tenantwall_isolation)"},
		{name: "a child that inherits from a tenant table in the source",
			pooled: `ALTER TABLE old_docs INHERIT docs`, undoPooled: `ALTER TABLE old_docs NO INHERIT docs`,
			says: "pooled: public.docs is inherited by public.old_docs (INHERITS, not partitioning); public.old_docs inherits from public.docs"},
		{name: "a child that inherits from a tenant table in the destination",
			big: `ALTER TABLE old_docs INHERIT docs`, undoBig: `ALTER TABLE old_docs NO INHERIT docs`,
			says: "big: public.docs is inherited by public.old_docs"},
		{name: "a tenant table that inherits from a shared table",
			pooled:     `CREATE TABLE doc_base (archived bool); ALTER TABLE docs INHERIT doc_base`,
			big:        `CREATE TABLE doc_base (archived bool); ALTER TABLE docs INHERIT doc_base`,
			undoPooled: `ALTER TABLE docs NO INHERIT doc_base; DROP TABLE doc_base`,
			undoBig:    `ALTER TABLE docs NO INHERIT doc_base; DROP TABLE doc_base`,
			says:       "public.docs inherits from public.doc_base"},
	}
	before := digestOf(t, f.pooled, id, "leads", "notes", "ONLY docs", "ONLY old_docs")
	for _, c := range cases {
		t.Run(c.name+" is refused and nothing moves", func(t *testing.T) {
			for _, ddl := range []struct {
				s        side
				do, undo string
			}{{f.pooled, c.pooled, c.undoPooled}, {f.big, c.big, c.undoBig}} {
				if ddl.do == "" {
					continue
				}
				adminExec(t, ddl.s, ddl.do)
				t.Cleanup(func() { adminExec(t, ddl.s, ddl.undo) })
			}
			err := f.router.Move(platform, id, "big")
			require.ErrorIs(t, err, placement.ErrNotMovable)
			assert.ErrorContains(t, err, c.says)
			where, err := f.dir.Placement(ctx, id)
			require.NoError(t, err)
			assert.Equal(t, "pooled", where)
			assert.Equal(t, before, digestOf(t, f.pooled, id, "leads", "notes", "ONLY docs", "ONLY old_docs"), "every row stays in the source")
			assert.Zero(t, count(t, f.big, id))
			assert.Zero(t, rows(t, f.big, "docs", id))
			n, err := readAll(a, f.router)
			require.NoError(t, err, "the tenant is not left frozen")
			assert.Equal(t, 2, n)
		})
	}
	t.Run("once every policy is the generated one and nothing inherits, the move runs and moves every row", func(t *testing.T) {
		require.NoError(t, f.router.Move(platform, id, "big"))
		assert.Equal(t, before, digestOf(t, f.big, id, "leads", "notes", "ONLY docs", "ONLY old_docs"))
		assert.Equal(t, 2, rows(t, f.big, "docs", id))
		assert.Zero(t, rows(t, f.pooled, "docs", id))
		assert.Zero(t, rows(t, f.pooled, "old_docs", id))
	})
}

// waitForLock waits until a connection of role on a side's server waits
// for a lock.
func waitForLock(t *testing.T, s side, role, what string) {
	t.Helper()
	waitFor(t, what, func() bool {
		var waiting bool
		require.NoError(t, s.admin.QueryRowContext(context.Background(),
			`SELECT EXISTS (SELECT FROM pg_stat_activity WHERE usename = $1 AND wait_event_type = 'Lock')`, role).Scan(&waiting))
		return waiting
	})
}

// Move freezes the tenant's transactions through the Router, not other
// writers: a migration that creates and backfills a tenant table while
// Move copies, and a writer outside the Router that adds one of the
// tenant's rows while Move deletes, make it fail with nothing switched
// and nothing lost. (Move read the tables once, switched the tenant and
// left the new table's rows in the source; it deleted the added row
// without having copied it.)
func TestMoveFailsWhenTheTenantChangesWhileItRuns(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()

	t.Run("a tenant table created and backfilled while Move copies", func(t *testing.T) {
		a := f.place(t, "pooled", 3)
		id := idOf(a)
		before := digest(t, f.pooled, id)
		// Move waits for the destination's notes, having read both
		// placements' tenant tables.
		hold, err := f.big.admin.BeginTx(ctx, nil)
		require.NoError(t, err)
		defer hold.Rollback()
		_, err = hold.ExecContext(ctx, `LOCK TABLE notes IN ACCESS EXCLUSIVE MODE`)
		require.NoError(t, err)
		moved := make(chan error, 1)
		go func() { moved <- f.router.Move(platform, id, "big") }()
		waitForLock(t, f.big, f.big.role, "the move to wait for the destination's notes")

		for _, s := range []side{f.pooled, f.big} {
			adminExec(t, s, `CREATE TABLE late (tenant_id text NOT NULL, id uuid NOT NULL DEFAULT gen_random_uuid(), PRIMARY KEY (tenant_id, id));
GRANT SELECT, INSERT, DELETE ON late TO `+s.role)
			require.NoError(t, sqlscope.EnableRLS(ctx, s.admin, "", "late"))
		}
		adminExec(t, f.pooled, `INSERT INTO late (tenant_id) VALUES ('`+id+`')`)
		require.NoError(t, hold.Rollback())

		err = <-moved
		require.ErrorIs(t, err, placement.ErrSchemaMismatch)
		assert.ErrorContains(t, err, "only pooled now has public.late")
		where, err := f.dir.Placement(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, "pooled", where, "nothing was switched")
		assert.Equal(t, before, digest(t, f.pooled, id), "the source keeps every row")
		assert.Equal(t, 1, rows(t, f.pooled, "late", id))
		assert.Zero(t, count(t, f.big, id), "the copy was deleted")
		n, err := readAll(a, f.router)
		require.NoError(t, err, "the tenant is not left frozen")
		assert.Equal(t, 3, n)
	})

	t.Run("a row added outside the Router while Move deletes", func(t *testing.T) {
		a := f.place(t, "pooled", 3)
		id := idOf(a)
		// Move waits for a note's row lock when it deletes the notes,
		// having copied every table.
		hold, err := f.pooled.admin.BeginTx(ctx, nil)
		require.NoError(t, err)
		defer hold.Rollback()
		_, err = hold.ExecContext(ctx, `SELECT FROM notes WHERE tenant_id = $1 LIMIT 1 FOR UPDATE`, id)
		require.NoError(t, err)
		moved := make(chan error, 1)
		go func() { moved <- f.router.Move(platform, id, "big") }()
		waitForLock(t, f.pooled, f.pooled.role, "the move to wait for a note")

		adminExec(t, f.pooled, `INSERT INTO leads (tenant_id, name) VALUES ('`+id+`', 'written outside the Router')`)
		require.NoError(t, hold.Rollback())

		err = <-moved
		require.ErrorIs(t, err, placement.ErrCopyMismatch)
		assert.ErrorContains(t, err, "public.leads: 4 rows")
		where, err := f.dir.Placement(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, "pooled", where, "nothing was switched")
		assert.Equal(t, 4, count(t, f.pooled, id), "the source keeps every lead, the new one included")
		assert.Zero(t, count(t, f.big, id), "the copy was deleted")
		n, err := readAll(a, f.router)
		require.NoError(t, err, "the tenant is not left frozen")
		assert.Equal(t, 4, n)
	})
}
