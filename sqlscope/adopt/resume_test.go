package adopt_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/internal/testenv"
	"github.com/tenantwall/tenantwall/sqlscope/adopt"
)

// catalog describes what adoption changes in a database, sorted, so that
// two databases can be compared: constraints, indexes (and whether they
// are valid), tenant_id's nullability and default, row level security,
// policies, triggers, the functions in schema tenantwall, and the rows
// per table and tenant.
func catalog(t testing.TB, db *sql.DB) []string {
	t.Helper()
	var out []string
	for _, q := range []string{
		`SELECT format('constraint %s %s %s', conrelid::regclass, conname, pg_get_constraintdef(oid)) FROM pg_constraint
			WHERE connamespace = 'public'::regnamespace`,
		`SELECT format('index %s %s valid=%s', indexrelid::regclass, pg_get_indexdef(indexrelid), indisvalid) FROM pg_index
			WHERE indrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'public'::regnamespace)`,
		`SELECT format('column %s %s notnull=%s default=%s', attrelid::regclass, attname, attnotnull, pg_get_expr(d.adbin, d.adrelid))
			FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
			WHERE attrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r') AND attnum > 0 AND NOT attisdropped`,
		`SELECT format('table %s rls=%s force=%s', oid::regclass, relrowsecurity, relforcerowsecurity) FROM pg_class
			WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'`,
		`SELECT format('policy %s %s %s %s', polrelid::regclass, polname, pg_get_expr(polqual, polrelid), pg_get_expr(polwithcheck, polrelid)) FROM pg_policy`,
		`SELECT format('trigger %s %s', tgrelid::regclass, tgname) FROM pg_trigger WHERE NOT tgisinternal`,
		`SELECT format('function %s', oid::regprocedure) FROM pg_proc WHERE pronamespace = (SELECT oid FROM pg_namespace WHERE nspname = 'tenantwall')`,
		`SELECT format('rows accounts %s %s', tenant_id, count(*)) FROM accounts GROUP BY tenant_id`,
		`SELECT format('rows contacts %s %s', tenant_id, count(*)) FROM contacts GROUP BY tenant_id`,
		`SELECT format('rows deals %s %s', tenant_id, count(*)) FROM deals GROUP BY tenant_id`,
	} {
		rows, err := db.Query(q)
		require.NoError(t, err, q)
		for rows.Next() {
			var s string
			require.NoError(t, rows.Scan(&s))
			out = append(out, s)
		}
		require.NoError(t, rows.Err())
		rows.Close()
	}
	return sorted(out)
}

func sorted(s []string) []string {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s
}

// plan inspects db and plans the fixture's adoption, as a rerun would.
func plan(t testing.TB, db *sql.DB) *adopt.Plan {
	t.Helper()
	s, err := adopt.Inspect(context.Background(), db, "public")
	require.NoError(t, err)
	p, err := adopt.New(s, assignments(), adopt.WithBatchSize(500))
	require.NoError(t, err)
	return p
}

// TestResumeAfterInterruption interrupts a migration mid-backfill, then
// between adding a foreign key NOT VALID and validating it, then with an
// invalid index left under the name of the next index the plan builds
// (what a cancelled CREATE INDEX CONCURRENTLY leaves), and reruns it each
// time: the end state must be that of an uninterrupted run.
func TestResumeAfterInterruption(t *testing.T) {
	ctx := context.Background()
	const accounts, contacts, deals = 100, 6_000, 4_000
	_, want := testenv.PostgresDB(t)
	legacy(t, want, accounts, contacts, deals)
	_, err := adopt.Run(ctx, want, plan(t, want))
	require.NoError(t, err)
	wantState := catalog(t, want)

	_, db := testenv.PostgresDB(t)
	legacy(t, db, accounts, contacts, deals)
	interrupt := func(stopAt func(adopt.Progress) bool) {
		t.Helper()
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		_, err := adopt.Run(ctx, db, plan(t, db), adopt.WithProgress(func(p adopt.Progress) {
			if stopAt(p) {
				cancel()
			}
		}))
		require.Error(t, err)
		require.True(t, errors.Is(err, context.Canceled) || sqlState(err) == "57014", "want a cancellation, got %v", err)
	}

	t.Run("mid-backfill", func(t *testing.T) {
		interrupt(func(p adopt.Progress) bool {
			return p.Phase == adopt.PhaseBackfill && p.Table == "contacts" && p.Rows >= 1500
		})
		var done, left int64
		require.NoError(t, db.QueryRow(`SELECT count(*) FILTER (WHERE tenant_id IS NOT NULL), count(*) FILTER (WHERE tenant_id IS NULL) FROM contacts`).Scan(&done, &left))
		assert.Positive(t, done, "the backfill must have committed batches before the interruption")
		assert.Positive(t, left, "the interruption must have come before the backfill ended")
	})

	t.Run("mid-constraint-swap", func(t *testing.T) {
		interrupt(func(p adopt.Progress) bool {
			return p.Phase == adopt.PhaseKeys && p.Table == "deals" && !p.Done && isValidateStep(t, db, p)
		})
		var notValid int64
		require.NoError(t, db.QueryRow(`SELECT count(*) FROM pg_constraint WHERE conrelid = 'deals'::regclass AND contype = 'f' AND NOT convalidated`).Scan(&notValid))
		assert.Equal(t, int64(1), notValid, "the new foreign key must be added, not yet validated")
	})

	t.Run("after an index build left an invalid index", func(t *testing.T) {
		// The interruption above came after every index was built. Undo
		// the build of the per-tenant email index (no foreign key depends
		// on it) and its record, and plant an invalid index under its
		// name, as a cancelled CREATE INDEX CONCURRENTLY leaves it.
		p := plan(t, db)
		var idx string
		for i, st := range p.Steps() {
			if st.Kind == adopt.Concurrently && contains(st.Statements[0].SQL, `"email"`) {
				idx = indexName(st.Statements[0].SQL)
				_, err := db.Exec(`DROP INDEX public.` + idx)
				require.NoError(t, err)
				_, err = db.Exec(`DELETE FROM tenantwall.adopt_steps WHERE schema_name = 'public' AND step = $1`, i)
				require.NoError(t, err)
				break
			}
		}
		require.NotEmpty(t, idx)
		_, err := db.Exec(`CREATE UNIQUE INDEX CONCURRENTLY ` + idx + ` ON contacts ((1))`)
		require.Error(t, err, "a failing concurrent build leaves an invalid index")
		var valid bool
		require.NoError(t, db.QueryRow(`SELECT indisvalid FROM pg_index WHERE indexrelid = ('public.' || $1)::regclass`, idx).Scan(&valid))
		require.False(t, valid)
	})

	t.Run("the rerun ends where an uninterrupted run does", func(t *testing.T) {
		rep, err := adopt.Run(ctx, db, plan(t, db))
		require.NoError(t, err)
		require.NoError(t, rep.Err())
		assert.Equal(t, wantState, catalog(t, db))
		_, err = adopt.Run(ctx, db, plan(t, db))
		require.NoError(t, err, "a rerun of a finished run is a no-op")
		assert.Equal(t, wantState, catalog(t, db))
	})
}

// isValidateStep reports whether p is the start of a VALIDATE CONSTRAINT
// step, by the plan's own statements.
func isValidateStep(t testing.TB, db *sql.DB, p adopt.Progress) bool {
	st := plan(t, db).Steps()[p.Step-1]
	return len(st.Statements) == 1 && contains(st.Statements[0].SQL, "VALIDATE CONSTRAINT tenantwall_fk_")
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func indexName(sql string) string {
	var name string
	_, _ = fmt.Sscanf(sql, "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS %s", &name)
	return name
}

// TestRunRefusesAnotherPlan checks that a run whose plan differs from
// the unfinished one recorded is refused, and that Inspect refuses a
// different table list.
func TestRunRefusesAnotherPlan(t *testing.T) {
	ctx := context.Background()
	_, db := testenv.PostgresDB(t)
	legacy(t, db, 10, 100, 100)
	c, cancel := context.WithCancel(ctx)
	_, err := adopt.Run(c, db, plan(t, db), adopt.WithProgress(func(p adopt.Progress) {
		if p.Phase == adopt.PhaseBackfill {
			cancel()
		}
	}))
	require.Error(t, err)

	s, err := adopt.Inspect(ctx, db, "public")
	require.NoError(t, err)
	a := assignments()
	a["accounts"] = adopt.Constant(euID)
	other, err := adopt.New(s, a)
	require.NoError(t, err)
	_, err = adopt.Run(ctx, db, other)
	assert.ErrorIs(t, err, adopt.ErrPlanChanged)

	_, err = adopt.Inspect(ctx, db, "public", "accounts")
	assert.ErrorIs(t, err, adopt.ErrPlanChanged)

	// Another run holds the schema's adoption lock.
	conn, err := db.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.ExecContext(ctx, `SELECT pg_advisory_lock(hashtext('tenantwall.adopt'), hashtext('public'))`)
	require.NoError(t, err)
	_, err = adopt.Run(ctx, db, plan(t, db))
	assert.ErrorIs(t, err, adopt.ErrBusy)
}
