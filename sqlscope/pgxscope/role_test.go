package pgxscope_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/internal/testenv"
	"github.com/tenantwall/tenantwall/sqlscope"
	"github.com/tenantwall/tenantwall/sqlscope/pgxscope"
	"github.com/tenantwall/tenantwall/tenant"
	"github.com/tenantwall/tenantwall/tenant/tenanttest"
)

func newPool(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

// wrapped is a Batcher of a type pgxscope does not know, as a tracing
// wrapper would be.
type wrapped struct{ pgxscope.Batcher }

// TestScopeRefusesPrivilegedRoles runs Tx and SendBatch through pools,
// connections and transactions whose role escapes row level security, and
// checks that nothing scoped runs and the error is ErrPrivilegedRole with
// the role and the fix.
func TestScopeRefusesPrivilegedRoles(t *testing.T) {
	ctx := context.Background()
	url, admin := testenv.PostgresDB(t)
	_, err := admin.ExecContext(ctx, `CREATE TABLE leads (id bigint PRIMARY KEY, tenant_id text NOT NULL, name text NOT NULL)`)
	require.NoError(t, err)
	require.NoError(t, sqlscope.EnableRLS(ctx, admin, "", "leads"))
	var superuser string
	require.NoError(t, admin.QueryRowContext(ctx, `SELECT current_user`).Scan(&superuser))
	exec := func(t *testing.T, q string) {
		t.Helper()
		_, err := admin.ExecContext(ctx, q)
		require.NoError(t, err, q)
	}
	role := func(t *testing.T, attrs string) (string, string) {
		t.Helper()
		name, u := testenv.PostgresRole(t, admin, url)
		if attrs != "" {
			exec(t, `ALTER ROLE `+name+` `+attrs)
		}
		exec(t, `GRANT SELECT, INSERT, UPDATE, DELETE ON leads TO `+name)
		return name, u
	}
	a := tenant.NewContext(ctx, tenanttest.NewTenant("acme"))

	cases := []struct {
		name  string
		setup func(t *testing.T) (url, role, cause string)
	}{
		{"a superuser", func(t *testing.T) (string, string, string) {
			return url, superuser, superuser + " is superuser"
		}},
		{"a BYPASSRLS role", func(t *testing.T) (string, string, string) {
			r, u := role(t, "BYPASSRLS")
			return u, r, "NOBYPASSRLS"
		}},
		{"a member of a BYPASSRLS role through a NOINHERIT role", func(t *testing.T) (string, string, string) {
			r, u := role(t, "NOINHERIT")
			p, _ := role(t, "BYPASSRLS")
			mid, _ := role(t, "NOINHERIT")
			exec(t, `GRANT `+p+` TO `+mid+`; GRANT `+mid+` TO `+r)
			return u, r, "BYPASSRLS role " + p
		}},
		{"a member of pg_execute_server_program", func(t *testing.T) (string, string, string) {
			r, u := role(t, "NOINHERIT")
			exec(t, `GRANT pg_execute_server_program TO `+r)
			return u, r, "REVOKE pg_execute_server_program FROM " + r
		}},
		{"a role granted pg_read_binary_file", func(t *testing.T) (string, string, string) {
			r, u := role(t, "")
			exec(t, `GRANT EXECUTE ON FUNCTION pg_read_binary_file(text) TO `+r)
			return u, r, "REVOKE EXECUTE ON FUNCTION pg_read_binary_file(text) FROM " + r
		}},
		{"the owner of a tenant table", func(t *testing.T) (string, string, string) {
			r, u := role(t, "")
			exec(t, `ALTER TABLE leads OWNER TO `+r)
			t.Cleanup(func() { exec(t, `ALTER TABLE leads OWNER TO `+superuser) })
			return u, r, "owns tenant table public.leads"
		}},
		{"a member of the owner of a tenant table", func(t *testing.T) (string, string, string) {
			r, u := role(t, "")
			owner, _ := role(t, "")
			exec(t, `ALTER TABLE leads OWNER TO `+owner+`; GRANT `+owner+` TO `+r)
			t.Cleanup(func() { exec(t, `ALTER TABLE leads OWNER TO `+superuser) })
			return u, r, "member of " + owner + ", owner of tenant table public.leads"
		}},
	}
	refused := func(t *testing.T, err error, r, cause string) {
		t.Helper()
		require.ErrorIs(t, err, sqlscope.ErrPrivilegedRole)
		assert.Contains(t, err.Error(), "role "+r)
		assert.Contains(t, err.Error(), cause)
		assert.Contains(t, err.Error(), "pgxscope.WithPrivilegedRole")
	}
	for _, c := range cases {
		t.Run(c.name+" is refused", func(t *testing.T) {
			u, r, cause := c.setup(t)
			scope, err := pgxscope.New()
			require.NoError(t, err)
			pool := newPool(t, u)
			conn, err := pgx.Connect(ctx, u)
			require.NoError(t, err)
			t.Cleanup(func() { conn.Close(context.Background()) })

			for _, db := range []struct {
				name string
				b    pgxscope.Batcher
			}{{"pool", pool}, {"connection", conn}, {"unknown Batcher", wrapped{pool}}} {
				t.Run("through a "+db.name, func(t *testing.T) {
					called := false
					err := scope.Tx(a, db.b, func(pgx.Tx) error { called = true; return nil })
					assert.False(t, called, "nothing runs as a privileged role")
					if _, unknown := db.b.(wrapped); unknown {
						// A Batcher whose role cannot be checked once is
						// refused before anything is sent.
						require.ErrorIs(t, err, pgxscope.ErrBatcher)
					} else {
						refused(t, err, r, cause)
					}

					b := &pgx.Batch{}
					b.Queue(`INSERT INTO leads VALUES (1, 'x', 'planted')`)
					br := scope.SendBatch(a, db.b, b)
					_, err = br.Exec()
					if _, unknown := db.b.(wrapped); unknown {
						// SendBatch refuses a Batcher it cannot read the
						// transaction status of before the role check.
						require.ErrorIs(t, err, pgxscope.ErrBatcher)
						require.ErrorIs(t, br.Close(), pgxscope.ErrBatcher)
						return
					}
					refused(t, err, r, cause)
					refused(t, br.Close(), r, cause)
				})
			}
			t.Run("through a caller's transaction", func(t *testing.T) {
				tx, err := conn.Begin(ctx)
				require.NoError(t, err)
				defer tx.Rollback(ctx)
				b := &pgx.Batch{}
				b.Queue(`SELECT 1`)
				refused(t, scope.SendBatch(a, tx, b).Close(), r, cause)
			})
			var n int
			require.NoError(t, admin.QueryRowContext(ctx, `SELECT count(*) FROM leads`).Scan(&n))
			assert.Zero(t, n, "the batch was never sent")
		})
	}
}

// TestScopeChecksOncePerPool counts round trips: the first use of a pool
// pays for the check, later ones do not.
func TestScopeChecksOncePerPool(t *testing.T) {
	f := newFixture(t, 1)
	tx := func() {
		require.NoError(t, f.scope.Tx(f.ctxA, f.pool, func(tx pgx.Tx) error {
			_, err := tx.Exec(f.ctxA, `SELECT 1`)
			return err
		}))
	}
	first := f.count(tx)
	second := f.count(tx)
	third := f.count(tx)
	assert.Greater(t, first, second, "the first use checks the role")
	assert.Equal(t, second, third, "later uses do not")

	scope, err := pgxscope.New()
	require.NoError(t, err)
	assert.Greater(t, f.count(func() {
		require.NoError(t, scope.Tx(f.ctxA, f.pool, func(pgx.Tx) error { return nil }))
	}), int64(2), "each Scope checks for itself")
}

// TestScopeRemembersOnlyAPass refuses a pool, fixes the role, and checks
// the same Scope and pool then work: a refusal is not cached.
func TestScopeRemembersOnlyAPass(t *testing.T) {
	f := newFixture(t, 1)
	_, err := f.admin.Exec(`ALTER ROLE ` + f.role + ` BYPASSRLS`)
	require.NoError(t, err)
	err = f.scope.Tx(f.ctxA, f.pool, func(pgx.Tx) error { return nil })
	require.ErrorIs(t, err, sqlscope.ErrPrivilegedRole)
	_, err = f.admin.Exec(`ALTER ROLE ` + f.role + ` NOBYPASSRLS`)
	require.NoError(t, err)
	require.NoError(t, f.scope.Tx(f.ctxA, f.pool, func(pgx.Tx) error { return nil }))
}

// TestScopeWithPrivilegedRole checks the opt-out: a reason is required, it
// is audited at New, and the privileged pool is then served.
func TestScopeWithPrivilegedRole(t *testing.T) {
	_, err := pgxscope.New(pgxscope.WithPrivilegedRole(""))
	assert.ErrorIs(t, err, tenant.ErrNoReason)

	var events []tenant.Event
	scope, err := pgxscope.New(pgxscope.WithPrivilegedRole("tenant export tool"),
		pgxscope.WithAuditor(tenant.AuditorFunc(func(_ context.Context, e tenant.Event) { events = append(events, e) })))
	require.NoError(t, err)
	require.Len(t, events, 1)
	assert.Equal(t, tenant.EventPlatformAccess, events[0].Kind)
	assert.Equal(t, "pgxscope", events[0].Package)
	assert.Contains(t, events[0].Resource, "tenant export tool")

	url, _ := testenv.PostgresDB(t)
	pool := newPool(t, url)
	ctx := tenant.NewContext(context.Background(), tenanttest.NewTenant("acme"))
	require.NoError(t, scope.Tx(ctx, pool, func(pgx.Tx) error { return nil }), "the superuser pool is served")
	assert.Len(t, events, 1, "the reason is reported once, at New")
}
