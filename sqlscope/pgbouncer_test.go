package sqlscope_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/internal/testenv"
	"github.com/tenantwall/tenantwall/sqlscope"
	"github.com/tenantwall/tenantwall/tenant"
)

// openThrough opens the fixture's application role through bouncer, with
// pgx's exec mode: PgBouncer 1.18 keeps no prepared statement across
// transactions, and pgx's default mode (cache_statement) relies on them.
func openThrough(t *testing.T, f *rlsFixture, bouncer *testenv.PgBouncer, maxConns int) (*sql.DB, *sqlscope.RLS) {
	t.Helper()
	db, err := sql.Open("pgx", bouncer.URL(t, f.appURL, "exec"))
	require.NoError(t, err)
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	t.Cleanup(func() { db.Close() })
	rls, err := sqlscope.NewRLS(context.Background(), db, sqlscope.WithPlatformDB(f.admin), sqlscope.WithAuditor(discard{}))
	require.NoError(t, err)
	return db, rls
}

// TestRLSThroughPgBouncerInTransactionMode runs many tenants' clients at
// once through a PgBouncer whose pool is much smaller than the number of
// clients, so that every server connection serves many tenants in turn:
// every row a client reads must be its tenant's, and a statement outside a
// scoped transaction must never see a tenant.
func TestRLSThroughPgBouncerInTransactionMode(t *testing.T) {
	const (
		poolSize = 3
		tenants  = 12
		clients  = 24 // more than poolSize: server connections are shared
		rounds   = 15
	)
	f := newRLSFixture(t)
	bouncer := testenv.StartPgBouncer(t, poolSize)
	// Each client holds a connection for its unscoped probes and takes
	// another for each scoped transaction.
	db, rls := openThrough(t, f, bouncer, 2*clients)
	findings, err := sqlscope.Audit(context.Background(), db, nil)
	require.NoError(t, err, "Audit runs through PgBouncer")
	require.Empty(t, findings)

	ids := make([]string, tenants)
	for i := range ids {
		ids[i] = tenant.NewID()
	}
	var (
		mu       sync.Mutex
		backends = map[int]bool{}
		inserted = map[string]int{}
		wg       sync.WaitGroup
	)
	errs := make(chan error, clients*rounds*4)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := ids[c%tenants]
			ctx := tenant.NewContext(context.Background(), tenant.Tenant{ID: id})
			// A connection of its own for the unscoped probes: one
			// PgBouncer client, on whichever server connection is free.
			conn, err := db.Conn(context.Background())
			if err != nil {
				errs <- err
				return
			}
			defer conn.Close()
			for r := range rounds {
				name := fmt.Sprintf("%s/%d/%d", id, c, r)
				err := rls.Tx(ctx, func(tx *sql.Tx) error {
					var pid int
					var setting string
					if err := tx.QueryRowContext(ctx, `SELECT pg_backend_pid(), current_setting($1)`, sqlscope.DefaultSetting).Scan(&pid, &setting); err != nil {
						return err
					}
					if setting != id {
						return fmt.Errorf("client of %s: the transaction's setting is %q", id, setting)
					}
					mu.Lock()
					backends[pid] = true
					mu.Unlock()
					if _, err := tx.ExecContext(ctx, `INSERT INTO leads (name) VALUES ($1)`, name); err != nil {
						return err
					}
					rows, err := tx.QueryContext(ctx, `SELECT tenant_id, name FROM leads`)
					if err != nil {
						return err
					}
					defer rows.Close()
					seen := 0
					for rows.Next() {
						var owner, n string
						if err := rows.Scan(&owner, &n); err != nil {
							return err
						}
						if owner != id || !strings.HasPrefix(n, id+"/") {
							return fmt.Errorf("client of %s read a row of %s (%q)", id, owner, n)
						}
						seen++
					}
					if seen == 0 {
						return fmt.Errorf("client of %s read none of its rows", id)
					}
					return rows.Err()
				})
				if err != nil {
					errs <- err
					continue
				}
				mu.Lock()
				inserted[id]++
				mu.Unlock()
				// Unscoped, right after a scoped unit, on a server
				// connection another tenant may just have used.
				var v sql.NullString
				if err := conn.QueryRowContext(context.Background(), `SELECT current_setting($1, true)`, sqlscope.DefaultSetting).Scan(&v); err != nil {
					errs <- err
				} else if v.String != "" {
					errs <- fmt.Errorf("an unscoped statement saw tenant %q", v.String)
				}
				var n int
				if err := conn.QueryRowContext(context.Background(), `SELECT count(*) FROM leads`).Scan(&n); err == nil {
					errs <- fmt.Errorf("an unscoped read of leads succeeded (%d rows)", n)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	if bouncer.PoolSize > 0 { // an outside PgBouncer's pool size is unknown
		assert.LessOrEqual(t, len(backends), bouncer.PoolSize, "the clients shared the pool's server connections")
	}
	assert.Greater(t, clients, len(backends), "more clients than server connections")
	for _, id := range ids {
		var n int
		require.NoError(t, f.admin.QueryRowContext(context.Background(), `SELECT count(*) FROM leads WHERE tenant_id = $1`, id).Scan(&n))
		assert.Equal(t, inserted[id], n, "every insert of %s landed in %s", id, id)
	}
}

// TestPgBouncerCarriesSessionSettingsToOtherClients shows why the tenant
// setting must be transaction-local: with one server connection, a
// session-level SET made by one client is seen by the next, while the
// setting a scoped transaction made is gone when it ends.
func TestPgBouncerCarriesSessionSettingsToOtherClients(t *testing.T) {
	f := newRLSFixture(t)
	bouncer := testenv.StartPgBouncer(t, 1)
	if bouncer.PoolSize != 1 {
		t.Skipf("needs a pool of one server connection; %s names an outside PgBouncer", testenv.PgBouncerEnv)
	}
	db, rls := openThrough(t, f, bouncer, 3) // two held below, one for Tx
	ctx := context.Background()
	first, err := db.Conn(ctx)
	require.NoError(t, err)
	defer first.Close()
	second, err := db.Conn(ctx)
	require.NoError(t, err)
	defer second.Close()

	t.Run("a scoped transaction leaves no tenant behind", func(t *testing.T) {
		f.insertLead(t, f.ctxA, "acme's lead")
		require.NoError(t, rls.Tx(f.ctxA, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(f.ctxA, `SELECT 1 FROM leads`)
			return err
		}))
		var v sql.NullString
		for _, c := range []*sql.Conn{first, second} {
			require.NoError(t, c.QueryRowContext(ctx, `SELECT current_setting($1, true)`, sqlscope.DefaultSetting).Scan(&v))
			assert.Empty(t, v.String)
		}
	})
	t.Run("a session-level SET reaches another client", func(t *testing.T) {
		_, err := first.ExecContext(ctx, `SET `+sqlscope.DefaultSetting+` = '`+f.a.ID+`'`)
		require.NoError(t, err)
		var v sql.NullString
		require.NoError(t, second.QueryRowContext(ctx, `SELECT current_setting($1, true)`, sqlscope.DefaultSetting).Scan(&v))
		assert.Equal(t, f.a.ID, v.String, "PgBouncer in transaction mode hands the session to whoever comes next")
		_, err = second.ExecContext(ctx, `RESET `+sqlscope.DefaultSetting)
		require.NoError(t, err)
	})
}

// viaBouncer, when set, makes newRLSFixture connect the application role
// through this PgBouncer. Only TestRLSSuiteThroughPgBouncer sets it; the
// package's tests do not run in parallel.
var viaBouncer *testenv.PgBouncer

// TestRLSSuiteThroughPgBouncer runs the package's RLS tests again with the
// application role connected through PgBouncer in transaction mode, on a
// pool of 2 server connections.
func TestRLSSuiteThroughPgBouncer(t *testing.T) {
	viaBouncer = testenv.StartPgBouncer(t, 2)
	t.Cleanup(func() { viaBouncer = nil })
	for _, c := range []struct {
		name string
		test func(*testing.T)
	}{
		{"AppRoleIsNotPrivileged", TestRLSAppRoleIsNotPrivileged},
		{"AssignsInsertsToTheContextTenant", TestRLSAssignsInsertsToTheContextTenant},
		{"CrossTenantAccess", TestRLSCrossTenantAccess},
		{"WithoutTenant", TestRLSWithoutTenant},
		{"PoolHygiene", TestRLSPoolHygiene},
		{"ConcurrentTenants", TestRLSConcurrentTenants},
		{"PlatformTx", TestRLSPlatformTx},
		{"WithoutTenantFailsOrFindsNothing", TestRLSWithoutTenantFailsOrFindsNothing},
		{"CallbackThatEndsTheTransaction", TestRLSCallbackThatEndsTheTransaction},
	} {
		t.Run(c.name, c.test)
	}
}
