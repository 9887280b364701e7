package sqlscope_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/internal/testenv"
	"github.com/tenantwall/tenantwall/sqlscope"
	"github.com/tenantwall/tenantwall/tenant"
	"github.com/tenantwall/tenantwall/tenant/tenanttest"
)

// rlsFixture is a fresh database with two RLS-isolated tables owned by the
// admin, and an application role that is neither superuser, BYPASSRLS nor
// owner.
type rlsFixture struct {
	admin, app *sql.DB
	role       string
	appURL     string
	rls        *sqlscope.RLS
	a, b       tenant.Tenant
	ctxA, ctxB context.Context
}

const schemaSQL = `
CREATE TABLE leads (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	tenant_id text NOT NULL,
	name text NOT NULL,
	UNIQUE (tenant_id, id)
);
CREATE TABLE tasks (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	tenant_id text NOT NULL,
	lead_id bigint NOT NULL,
	title text NOT NULL,
	FOREIGN KEY (tenant_id, lead_id) REFERENCES leads (tenant_id, id)
);`

func newRLSFixture(t *testing.T) *rlsFixture {
	t.Helper()
	ctx := context.Background()
	url, admin := testenv.PostgresDB(t)
	_, err := admin.ExecContext(ctx, schemaSQL)
	require.NoError(t, err)
	require.NoError(t, sqlscope.EnableRLS(ctx, admin, "", "leads", "public.tasks"))
	role, roleURL := testenv.PostgresRole(t, admin, url)
	_, err = admin.ExecContext(ctx, fmt.Sprintf(`GRANT SELECT, INSERT, UPDATE, DELETE ON leads, tasks TO %s`, role))
	require.NoError(t, err)
	if viaBouncer != nil { // TestRLSSuiteThroughPgBouncer
		roleURL = viaBouncer.URL(t, roleURL, "exec")
	}
	app, err := sql.Open("pgx", roleURL)
	require.NoError(t, err)
	t.Cleanup(func() { app.Close() })
	rls, err := sqlscope.NewRLS(ctx, app, sqlscope.WithPlatformDB(admin), sqlscope.WithAuditor(discard{}))
	require.NoError(t, err)
	f := &rlsFixture{admin: admin, app: app, role: role, appURL: roleURL, rls: rls,
		a: tenanttest.NewTenant("acme"), b: tenanttest.NewTenant("globex")}
	f.ctxA = tenant.NewContext(ctx, f.a)
	f.ctxB = tenant.NewContext(ctx, f.b)
	return f
}

type discard struct{}

func (discard) Audit(context.Context, tenant.Event) {}

func (f *rlsFixture) insertLead(t *testing.T, ctx context.Context, name string) (id int64, owner string) {
	t.Helper()
	err := f.rls.Tx(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `INSERT INTO leads (name) VALUES ($1) RETURNING id, tenant_id`, name).Scan(&id, &owner)
	})
	require.NoError(t, err)
	return id, owner
}

func TestRLSAppRoleIsNotPrivileged(t *testing.T) {
	f := newRLSFixture(t)
	var super, bypass bool
	require.NoError(t, f.app.QueryRow(`SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user`).Scan(&super, &bypass))
	require.False(t, super, "the test would prove nothing as a superuser")
	require.False(t, bypass, "the test would prove nothing as a BYPASSRLS role")
	findings, err := sqlscope.Audit(context.Background(), f.app, nil)
	require.NoError(t, err)
	assert.Empty(t, findings, "a correct schema must audit clean: %v", findings)
	assert.NoError(t, findings.Err())
}

func TestRLSAssignsInsertsToTheContextTenant(t *testing.T) {
	f := newRLSFixture(t)
	_, owner := f.insertLead(t, f.ctxA, "Lead of A")
	assert.Equal(t, f.a.ID, owner, "a lead created under tenant A belongs to A")
}

func TestRLSCrossTenantAccess(t *testing.T) {
	f := newRLSFixture(t)
	idB, _ := f.insertLead(t, f.ctxB, "Secret Lead")
	f.insertLead(t, f.ctxA, "Own Lead")

	t.Run("B's rows cannot be read under A", func(t *testing.T) {
		err := f.rls.Tx(f.ctxA, func(tx *sql.Tx) error {
			var name string
			err := tx.QueryRowContext(f.ctxA, `SELECT name FROM leads WHERE id = $1`, idB).Scan(&name)
			assert.ErrorIs(t, err, sql.ErrNoRows)
			var n int
			require.NoError(t, tx.QueryRowContext(f.ctxA, `SELECT count(*) FROM leads`).Scan(&n))
			assert.Equal(t, 1, n, "A sees only its own lead")
			return nil
		})
		require.NoError(t, err)
	})
	t.Run("B's rows cannot be updated or deleted under A", func(t *testing.T) {
		err := f.rls.Tx(f.ctxA, func(tx *sql.Tx) error {
			res, err := tx.ExecContext(f.ctxA, `UPDATE leads SET name = 'pwned' WHERE id = $1`, idB)
			require.NoError(t, err)
			n, _ := res.RowsAffected()
			assert.Zero(t, n)
			res, err = tx.ExecContext(f.ctxA, `DELETE FROM leads WHERE id = $1`, idB)
			require.NoError(t, err)
			n, _ = res.RowsAffected()
			assert.Zero(t, n)
			return nil
		})
		require.NoError(t, err)
		var name string
		require.NoError(t, f.admin.QueryRow(`SELECT name FROM leads WHERE id = $1`, idB).Scan(&name))
		assert.Equal(t, "Secret Lead", name)
	})
	t.Run("a row cannot be inserted as B under A", func(t *testing.T) {
		err := f.rls.Tx(f.ctxA, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(f.ctxA, `INSERT INTO leads (tenant_id, name) VALUES ($1, 'planted')`, f.b.ID)
			return err
		})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "row-level security")
	})
	t.Run("a row cannot be moved to B under A", func(t *testing.T) {
		err := f.rls.Tx(f.ctxA, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(f.ctxA, `UPDATE leads SET tenant_id = $1`, f.b.ID)
			return err
		})
		require.Error(t, err)
	})
	t.Run("a task cannot reference B's lead under A", func(t *testing.T) {
		err := f.rls.Tx(f.ctxA, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(f.ctxA, `INSERT INTO tasks (lead_id, title) VALUES ($1, 'x')`, idB)
			return err
		})
		require.Error(t, err, "the composite foreign key must refuse a cross-tenant reference")
	})
}

func TestRLSWithoutTenant(t *testing.T) {
	f := newRLSFixture(t)
	f.insertLead(t, f.ctxA, "A")
	called := false
	err := f.rls.Tx(context.Background(), func(*sql.Tx) error { called = true; return nil })
	assert.ErrorIs(t, err, tenant.ErrNoTenant)
	assert.False(t, called, "no SQL may run without a tenant")

	// Bypassing the helper does not help: the policy raises.
	_, err = f.app.Exec(`SELECT * FROM leads`)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no tenant")

	// Neither does an empty or forged-empty setting.
	err = f.rls.Tx(tenant.NewContext(context.Background(), tenant.Tenant{ID: "", Slug: "x"}), func(*sql.Tx) error { return nil })
	assert.ErrorIs(t, err, tenant.ErrNoTenant)
	tx, err := f.app.Begin()
	require.NoError(t, err)
	defer tx.Rollback()
	_, err = tx.Exec(`SELECT set_config('tenantwall.tenant_id', '', true)`)
	require.NoError(t, err)
	_, err = tx.Exec(`SELECT * FROM leads`)
	assert.ErrorContains(t, err, "no tenant")
}

func TestRLSPoolHygiene(t *testing.T) {
	f := newRLSFixture(t)
	f.app.SetMaxOpenConns(1)
	f.insertLead(t, f.ctxA, "A's lead")

	checkNoSetting := func(t *testing.T) {
		t.Helper()
		rows, err := f.app.Query(`SELECT name FROM leads`)
		if err == nil {
			var leaked []string
			for rows.Next() {
				var n string
				_ = rows.Scan(&n)
				leaked = append(leaked, n)
			}
			err = rows.Err()
			rows.Close()
			require.Error(t, err, "a statement without a tenant returned rows %v", leaked)
		}
		var v sql.NullString
		require.NoError(t, f.app.QueryRow(`SELECT current_setting('tenantwall.tenant_id', true)`).Scan(&v))
		assert.Empty(t, v.String, "the tenant setting outlived its transaction")
	}

	t.Run("after a committed transaction", func(t *testing.T) {
		require.NoError(t, f.rls.Tx(f.ctxA, func(tx *sql.Tx) error {
			_, err := tx.Exec(`SELECT count(*) FROM leads`)
			return err
		}))
		checkNoSetting(t)
	})
	t.Run("after a rolled-back transaction", func(t *testing.T) {
		boom := errors.New("boom")
		err := f.rls.Tx(f.ctxA, func(tx *sql.Tx) error { return boom })
		assert.ErrorIs(t, err, boom)
		checkNoSetting(t)
	})
	t.Run("after a failed statement", func(t *testing.T) {
		err := f.rls.Tx(f.ctxA, func(tx *sql.Tx) error {
			_, err := tx.Exec(`SELECT * FROM no_such_table`)
			return err
		})
		require.Error(t, err)
		checkNoSetting(t)
	})
	t.Run("after a panic", func(t *testing.T) {
		assert.Panics(t, func() {
			_ = f.rls.Tx(f.ctxA, func(tx *sql.Tx) error { panic("in fn") })
		})
		checkNoSetting(t)
	})
}

func TestRLSConcurrentTenants(t *testing.T) {
	f := newRLSFixture(t)
	f.app.SetMaxOpenConns(4)
	ctxs := []context.Context{f.ctxA, f.ctxB}
	ids := []string{f.a.ID, f.b.ID}
	for i := range 10 {
		f.insertLead(t, ctxs[i%2], fmt.Sprintf("lead %d", i))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for g := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := g % 2
			for range 10 {
				err := f.rls.Tx(ctxs[k], func(tx *sql.Tx) error {
					if g%5 == 0 {
						if _, err := tx.Exec(`INSERT INTO leads (name) VALUES ('concurrent')`); err != nil {
							return err
						}
					}
					rows, err := tx.Query(`SELECT tenant_id FROM leads`)
					if err != nil {
						return err
					}
					defer rows.Close()
					n := 0
					for rows.Next() {
						var owner string
						if err := rows.Scan(&owner); err != nil {
							return err
						}
						if owner != ids[k] {
							return fmt.Errorf("goroutine of tenant %d read a row of %s", k, owner)
						}
						n++
					}
					if n == 0 {
						return errors.New("read no rows at all")
					}
					return rows.Err()
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestRLSPlatformTx(t *testing.T) {
	f := newRLSFixture(t)
	f.insertLead(t, f.ctxA, "A")
	f.insertLead(t, f.ctxB, "B")
	err := f.rls.PlatformTx(context.Background(), func(*sql.Tx) error { return nil })
	assert.ErrorIs(t, err, tenant.ErrNoTenant)

	var events []tenant.Event
	rls, err := sqlscope.NewRLS(context.Background(), f.app, sqlscope.WithPlatformDB(f.admin),
		sqlscope.WithAuditor(tenant.AuditorFunc(func(_ context.Context, e tenant.Event) { events = append(events, e) })))
	require.NoError(t, err)
	ctx, err := tenant.WithPlatformScope(context.Background(), "nightly report")
	require.NoError(t, err)
	var n int
	require.NoError(t, rls.PlatformTx(ctx, func(tx *sql.Tx) error {
		return tx.QueryRow(`SELECT count(*) FROM leads`).Scan(&n)
	}))
	assert.Equal(t, 2, n)
	require.Len(t, events, 1)
	assert.Equal(t, tenant.EventPlatformAccess, events[0].Kind)
	assert.Contains(t, events[0].Resource, "nightly report")

	noPlatform, err := sqlscope.NewRLS(context.Background(), f.app)
	require.NoError(t, err)
	assert.ErrorIs(t, noPlatform.PlatformTx(ctx, func(*sql.Tx) error { return nil }), sqlscope.ErrNoPlatformDB)
}

func TestRLSOptionsAndDDLRefuseBadIdentifiers(t *testing.T) {
	for _, s := range []string{"", "tenant_id", "a.b.c", "a;b.c", "a.b'--", "a-b.c"} {
		_, err := sqlscope.NewRLS(context.Background(), nil, sqlscope.WithSetting(s))
		assert.ErrorIs(t, err, sqlscope.ErrIdentifier, "setting %q", s)
		_, err = sqlscope.FunctionSQL(s + "x'")
		assert.Error(t, err)
	}
	for _, table := range []string{"", `leads"; DROP TABLE x; --`, "a.b.c", "1leads", "le ads", "leads;", "ｌeads"} {
		_, err := sqlscope.RLSSQL(table)
		assert.ErrorIs(t, err, sqlscope.ErrIdentifier, "table %q", table)
	}
}

// TestRLSWithoutTenantFailsOrFindsNothing pins what happens to a statement
// without a tenant. The helpers refuse before sending anything. SQL that
// bypasses them fails as soon as a row reaches the policy, so no row of
// any tenant is ever returned, changed or written; a statement that
// reaches no row (the row was excluded by an index condition or a
// leakproof qual evaluated before the policy, or never read at all)
// succeeds with an empty result, so the difference tells such code
// whether a row matching its condition exists in some tenant.
func TestRLSWithoutTenantFailsOrFindsNothing(t *testing.T) {
	f := newRLSFixture(t)
	t.Run("the helpers refuse before any statement is sent", func(t *testing.T) {
		// A closed handle fails any attempt to send SQL with
		// "sql: database is closed", not ErrNoTenant.
		closed, err := sql.Open("pgx", f.appURL)
		require.NoError(t, err)
		rls, err := sqlscope.NewRLS(context.Background(), closed)
		require.NoError(t, err)
		require.NoError(t, closed.Close())
		for _, ctx := range []context.Context{
			context.Background(),
			tenant.NewContext(context.Background(), tenant.Tenant{ID: "", Slug: "empty"}),
		} {
			called := false
			err := rls.Tx(ctx, func(*sql.Tx) error { called = true; return nil })
			assert.ErrorIs(t, err, tenant.ErrNoTenant)
			err = rls.TxOptions(ctx, &sql.TxOptions{ReadOnly: true}, func(*sql.Tx) error { called = true; return nil })
			assert.ErrorIs(t, err, tenant.ErrNoTenant)
			assert.False(t, called)
		}
		assert.Error(t, rls.Tx(f.ctxA, func(*sql.Tx) error { return nil }), "with a tenant, the closed handle is used")
	})

	idA, _ := f.insertLead(t, f.ctxA, "Secret Lead")
	// notes has no index leading with tenant_id, leads has one.
	_, err := f.admin.Exec(`CREATE TABLE notes (id bigint PRIMARY KEY, tenant_id text NOT NULL, name text NOT NULL)`)
	require.NoError(t, err)
	require.NoError(t, sqlscope.EnableRLS(context.Background(), f.admin, "", "notes"))
	_, err = f.admin.Exec(`INSERT INTO notes VALUES ($1, $2, 'Secret Note')`, idA, f.a.ID)
	require.NoError(t, err)
	_, err = f.admin.Exec(`GRANT SELECT, INSERT, UPDATE, DELETE ON notes TO ` + f.role)
	require.NoError(t, err)
	// Whether a statement reaches a row depends on its plan: pin both.
	const byIndex = `SET LOCAL enable_seqscan = off`
	const byScan = `SET LOCAL enable_indexscan = off; SET LOCAL enable_bitmapscan = off`
	missing := idA + 1000
	cases := []struct {
		name   string
		plan   string
		query  string
		args   []any
		raises bool
	}{
		{"a select of an existing row raises", byIndex, `SELECT name FROM notes WHERE id = $1`, []any{idA}, true},
		{"a select of a missing row by index finds nothing", byIndex, `SELECT name FROM notes WHERE id = $1`, []any{missing}, false},
		{"a select of a missing row by a scan raises on the rows it reads", byScan, `SELECT name FROM notes WHERE id = $1`, []any{missing}, true},
		{"a count over the table raises", byScan, `SELECT count(*) FROM notes`, nil, true},
		{"a select that reads no row finds nothing", byScan, `SELECT name FROM notes LIMIT 0`, nil, false},
		{"a select with a false condition finds nothing", byScan, `SELECT name FROM notes WHERE false`, nil, false},
		{"an update of an existing row raises", byIndex, `UPDATE notes SET name = 'x' WHERE id = $1`, []any{idA}, true},
		{"an update of a missing row by index changes nothing", byIndex, `UPDATE notes SET name = 'x' WHERE id = $1`, []any{missing}, false},
		{"an update of a missing row by a scan raises", byScan, `UPDATE notes SET name = 'x' WHERE id = $1`, []any{missing}, true},
		{"a delete of an existing row raises", byIndex, `DELETE FROM notes WHERE id = $1`, []any{idA}, true},
		{"a delete of a missing row by index changes nothing", byIndex, `DELETE FROM notes WHERE id = $1`, []any{missing}, false},
		{"a delete of a missing row by a scan raises", byScan, `DELETE FROM notes WHERE id = $1`, []any{missing}, true},
		{"an insert raises", byIndex, `INSERT INTO notes (id, name) VALUES (7, 'x')`, nil, true},
		{"an insert naming a tenant raises", byIndex, `INSERT INTO notes (id, tenant_id, name) VALUES (7, $1, 'x')`, []any{f.a.ID}, true},
		{"a select of a missing row through an index leading with tenant_id raises", byIndex,
			`SELECT name FROM leads WHERE id = $1`, []any{missing}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tx, err := f.app.Begin()
			require.NoError(t, err)
			defer tx.Rollback()
			_, err = tx.Exec(c.plan)
			require.NoError(t, err)
			rows, err := tx.Query(c.query, c.args...)
			var got int
			if err == nil {
				for rows.Next() {
					got++
				}
				err = rows.Err()
				rows.Close()
			}
			assert.Zero(t, got, "no row is returned without a tenant")
			if c.raises {
				require.Error(t, err)
				assert.Contains(t, err.Error(), "no tenant")
				return
			}
			require.NoError(t, err)
		})
	}
	var name string
	require.NoError(t, f.admin.QueryRow(`SELECT name FROM notes WHERE id = $1`, idA).Scan(&name))
	assert.Equal(t, "Secret Note", name, "nothing was changed without a tenant")
}

// Setting names the parameter each transaction sets to the tenant, so a
// caller can audit the policies for it (placement.Router.Move does).
func TestRLSSettingIsTheParameterItsTransactionsSet(t *testing.T) {
	f := newRLSFixture(t)
	for _, setting := range []string{"", "app.tenant"} {
		var opts []sqlscope.Option
		if setting != "" {
			opts = append(opts, sqlscope.WithSetting(setting))
		}
		rls, err := sqlscope.NewRLS(context.Background(), f.app, opts...)
		require.NoError(t, err)
		want := setting
		if want == "" {
			want = sqlscope.DefaultSetting
		}
		assert.Equal(t, want, rls.Setting())
		ctx := tenant.NewContext(context.Background(), tenant.Tenant{ID: "acme"})
		var got string
		require.NoError(t, rls.Tx(ctx, func(tx *sql.Tx) error {
			return tx.QueryRowContext(ctx, `SELECT current_setting($1)`, rls.Setting()).Scan(&got)
		}))
		assert.Equal(t, "acme", got)
	}
}
