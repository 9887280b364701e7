package pgxscope_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/internal/testenv"
	"github.com/tenantwall/tenantwall/sqlscope"
	"github.com/tenantwall/tenantwall/tenant"
)

// bouncerPool is a pool of the application role through bouncer, in pgx's
// exec mode mode.
func bouncerPool(t *testing.T, f *fixture, bouncer *testenv.PgBouncer, mode string, maxConns int32) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(bouncer.URL(t, f.roleURL, mode))
	require.NoError(t, err)
	cfg.MaxConns = maxConns
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

// TestScopeThroughPgBouncerInTransactionMode runs many tenants' clients at
// once through a PgBouncer whose pool is much smaller than the number of
// clients: every row read must be the client's tenant's, and a statement
// outside a scoped transaction must never see a tenant.
func TestScopeThroughPgBouncerInTransactionMode(t *testing.T) {
	const (
		poolSize = 3
		tenants  = 12
		clients  = 24
		rounds   = 15
	)
	f := newFixture(t, 4)
	ctx := context.Background()
	ids := make([]string, tenants)
	for i := range ids {
		ids[i] = tenant.NewID()
		// Rows 10000+100i … : 20 per tenant, named after it.
		_, err := f.admin.ExecContext(ctx, `INSERT INTO leads SELECT 10000 + 100 * $2::int + g, $1, $1 || '/' || g FROM generate_series(0, 19) g`, ids[i], i)
		require.NoError(t, err)
	}
	bouncer := testenv.StartPgBouncer(t, poolSize)
	pool := bouncerPool(t, f, bouncer, "exec", clients)

	var (
		mu       sync.Mutex
		backends = map[uint32]bool{}
		wg       sync.WaitGroup
	)
	errs := make(chan error, clients*rounds*3)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			i := c % tenants
			id := ids[i]
			tctx := tenant.NewContext(ctx, tenant.Tenant{ID: id})
			for r := range rounds {
				err := f.scope.Tx(tctx, pool, func(tx pgx.Tx) error {
					// PgBouncer hands each client a process ID of its own:
					// ask the server which one serves this transaction.
					var pid uint32
					if err := tx.QueryRow(tctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
						return err
					}
					mu.Lock()
					backends[pid] = true
					mu.Unlock()
					// A point select on one of its own rows, then on one
					// of the next tenant's, then a scan.
					own := int64(10000 + 100*i + r%20)
					other := int64(10000 + 100*((i+1)%tenants) + r%20)
					var owner, name string
					if err := tx.QueryRow(tctx, `SELECT tenant_id, name FROM leads WHERE id = $1`, own).Scan(&owner, &name); err != nil {
						return fmt.Errorf("own row %d: %w", own, err)
					}
					if owner != id || !strings.HasPrefix(name, id+"/") {
						return fmt.Errorf("client of %s read a row of %s", id, owner)
					}
					if err := tx.QueryRow(tctx, `SELECT tenant_id FROM leads WHERE id = $1`, other).Scan(&owner); err != pgx.ErrNoRows {
						return fmt.Errorf("client of %s: another tenant's row %d: got %q, %v", id, other, owner, err)
					}
					rows, err := tx.Query(tctx, `SELECT tenant_id FROM leads`)
					if err != nil {
						return err
					}
					n := 0
					_, err = pgx.ForEachRow(rows, []any{&owner}, func() error {
						n++
						if owner != id {
							return fmt.Errorf("client of %s scanned a row of %s", id, owner)
						}
						return nil
					})
					if err == nil && n != 20 {
						err = fmt.Errorf("client of %s scanned %d rows, want 20", id, n)
					}
					return err
				})
				if err != nil {
					errs <- err
					continue
				}
				var v *string
				if err := pool.QueryRow(ctx, `SELECT current_setting($1, true)`, sqlscope.DefaultSetting).Scan(&v); err != nil {
					errs <- err
				} else if v != nil && *v != "" {
					errs <- fmt.Errorf("an unscoped statement saw tenant %q", *v)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if bouncer.PoolSize > 0 {
		assert.LessOrEqual(t, len(backends), bouncer.PoolSize, "the clients shared the pool's server connections")
	}
	assert.Greater(t, clients, len(backends))
}

// TestQueryExecModesUnderPgBouncer records which of pgx's query exec modes
// work through PgBouncer 1.18 in transaction mode, which does not carry
// prepared statements between server connections: with one server
// connection shared by two clients, the second client's cached statement
// collides with the first's (cache_statement), while the modes that
// prepare nothing by name work.
func TestQueryExecModesUnderPgBouncer(t *testing.T) {
	f := newFixture(t, 4)
	bouncer := testenv.StartPgBouncer(t, 1)
	if bouncer.PoolSize != 1 {
		t.Skipf("needs a pool of one server connection; %s names an outside PgBouncer", testenv.PgBouncerEnv)
	}
	for _, c := range []struct {
		mode  string
		works bool
	}{
		{"cache_statement", false},
		{"cache_describe", true},
		{"describe_exec", true},
		{"exec", true},
		{"simple_protocol", true},
	} {
		t.Run(c.mode, func(t *testing.T) {
			first := bouncerPool(t, f, bouncer, c.mode, 1)
			second := bouncerPool(t, f, bouncer, c.mode, 1)
			var err error
			for _, pool := range []*pgxpool.Pool{first, second, first, second} {
				if err = f.scope.Tx(f.ctxA, pool, func(tx pgx.Tx) error {
					var owner string
					if err := tx.QueryRow(f.ctxA, `SELECT tenant_id FROM leads WHERE id = $1`, int64(1)).Scan(&owner); err != nil {
						return err
					}
					if owner != f.a.ID {
						return fmt.Errorf("read a row of %s", owner)
					}
					return nil
				}); err != nil {
					break
				}
			}
			if c.works {
				assert.NoError(t, err)
			} else {
				assert.Error(t, err, "named prepared statements meet on a shared server connection")
				t.Logf("%s: %v", c.mode, err)
			}
		})
	}
}

// viaBouncer, when set, makes newFixture's pool connect through this
// PgBouncer. Only TestScopeSuiteThroughPgBouncer sets it; the package's
// tests do not run in parallel.
var viaBouncer *testenv.PgBouncer

// TestScopeSuiteThroughPgBouncer runs the package's scope tests again with
// the pool connected through PgBouncer in transaction mode (pgx's exec
// mode), on a pool of 2 server connections.
func TestScopeSuiteThroughPgBouncer(t *testing.T) {
	viaBouncer = testenv.StartPgBouncer(t, 2)
	t.Cleanup(func() { viaBouncer = nil })
	for _, c := range []struct {
		name string
		test func(*testing.T)
	}{
		{"TxIsolatesAndAssigns", TestTxIsolatesAndAssigns},
		{"NoTenantSendsNothing", TestNoTenantSendsNothing},
		{"ScopingCostsNoExtraRoundTrip", TestScopingCostsNoExtraRoundTrip},
		{"SendBatchIsScopedToTheBatch", TestSendBatchIsScopedToTheBatch},
		{"PoolHygieneAfterFailures", TestPoolHygieneAfterFailures},
		{"SendBatchTransactionStatus", TestSendBatchTransactionStatus},
		{"SendBatchInsideATransaction", TestSendBatchInsideATransaction},
		{"TxCallbackThatEndsTheTransaction", TestTxCallbackThatEndsTheTransaction},
		{"SendBatchRollbackFailureDestroysTheConnection", TestSendBatchRollbackFailureDestroysTheConnection},
		{"SendBatchCallbackPanic", TestSendBatchCallbackPanic},
		{"TxInsideATransactionIsRefused", TestTxInsideATransactionIsRefused},
	} {
		t.Run(c.name, c.test)
	}
}
