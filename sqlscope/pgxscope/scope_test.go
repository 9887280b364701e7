package pgxscope_test

import (
	"context"
	"database/sql"
	"errors"
	"net"
	"sync/atomic"
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

// countingConn counts writes to the server: pgx flushes each round trip's
// messages in one write, so writes are round trips.
type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c countingConn) Write(b []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(b)
}

type fixture struct {
	admin      *sql.DB       // owner of the tables
	role       string        // the application role
	roleURL    string        // the application role's connection URL
	pool       *pgxpool.Pool // application role, counted
	writes     *atomic.Int64
	scope      *pgxscope.Scope
	a, b       tenant.Tenant
	ctxA, ctxB context.Context
}

func newFixture(t testing.TB, maxConns int32) *fixture {
	t.Helper()
	ctx := context.Background()
	url, admin := testenv.PostgresDB(t)
	_, err := admin.ExecContext(ctx, `
CREATE TABLE leads (id bigint PRIMARY KEY, tenant_id text NOT NULL, name text NOT NULL);
CREATE TABLE leads_plain (id bigint PRIMARY KEY, tenant_id text NOT NULL, name text NOT NULL);
CREATE INDEX ON leads (tenant_id);`)
	require.NoError(t, err)
	require.NoError(t, sqlscope.EnableRLS(ctx, admin, "", "leads"))
	role, roleURL := testenv.PostgresRole(t, admin, url)
	_, err = admin.ExecContext(ctx, `GRANT SELECT, INSERT, UPDATE, DELETE ON leads, leads_plain TO `+role)
	require.NoError(t, err)

	f := &fixture{admin: admin, role: role, roleURL: roleURL, writes: new(atomic.Int64), a: tenanttest.NewTenant("acme"), b: tenanttest.NewTenant("globex")}
	f.ctxA, f.ctxB = tenant.NewContext(ctx, f.a), tenant.NewContext(ctx, f.b)
	poolURL := roleURL
	if viaBouncer != nil { // TestScopeSuiteThroughPgBouncer
		poolURL = viaBouncer.URL(t, roleURL, "exec")
	}
	cfg, err := pgxpool.ParseConfig(poolURL)
	require.NoError(t, err)
	cfg.MaxConns = maxConns
	dialer := &net.Dialer{}
	cfg.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dialer.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return countingConn{Conn: c, writes: f.writes}, nil
	}
	f.pool, err = pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(f.pool.Close)
	f.scope, err = pgxscope.New()
	require.NoError(t, err)

	// Seed: 100 leads per tenant in both tables.
	for i, tt := range []tenant.Tenant{f.a, f.b} {
		for j := range 100 {
			id := int64(i*1000 + j)
			_, err := admin.ExecContext(ctx, `INSERT INTO leads_plain VALUES ($1, $2, $3)`, id, tt.ID, "lead")
			require.NoError(t, err)
			_, err = admin.ExecContext(ctx, `SELECT set_config('tenantwall.tenant_id', $1, false)`, tt.ID)
			require.NoError(t, err)
		}
	}
	_, err = admin.ExecContext(ctx, `ALTER TABLE leads NO FORCE ROW LEVEL SECURITY;
		INSERT INTO leads SELECT * FROM leads_plain;
		ALTER TABLE leads FORCE ROW LEVEL SECURITY`)
	require.NoError(t, err)
	return f
}

func (f *fixture) count(fn func()) int64 {
	before := f.writes.Load()
	fn()
	return f.writes.Load() - before
}

func TestTxIsolatesAndAssigns(t *testing.T) {
	f := newFixture(t, 4)
	var n int
	require.NoError(t, f.scope.Tx(f.ctxA, f.pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(f.ctxA, `SELECT count(*) FROM leads`).Scan(&n); err != nil {
			return err
		}
		var owner string
		if err := tx.QueryRow(f.ctxA, `INSERT INTO leads (id, name) VALUES (5000, 'new') RETURNING tenant_id`).Scan(&owner); err != nil {
			return err
		}
		assert.Equal(t, f.a.ID, owner)
		var name string
		err := tx.QueryRow(f.ctxA, `SELECT name FROM leads WHERE id = 1000`).Scan(&name) // B's lead
		assert.ErrorIs(t, err, pgx.ErrNoRows)
		return nil
	}))
	assert.Equal(t, 100, n)

	err := f.scope.Tx(f.ctxA, f.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(f.ctxA, `INSERT INTO leads (id, tenant_id, name) VALUES (5001, $1, 'planted')`, f.b.ID)
		return err
	})
	assert.Error(t, err, "inserting as B under A")
}

func TestNoTenantSendsNothing(t *testing.T) {
	f := newFixture(t, 2)
	writes := f.count(func() {
		err := f.scope.Tx(context.Background(), f.pool, func(pgx.Tx) error { return nil })
		assert.ErrorIs(t, err, tenant.ErrNoTenant)
		br := f.scope.SendBatch(context.Background(), f.pool, &pgx.Batch{})
		assert.ErrorIs(t, br.Close(), tenant.ErrNoTenant)
	})
	assert.Zero(t, writes)
}

func TestScopingCostsNoExtraRoundTrip(t *testing.T) {
	f := newFixture(t, 1)
	ctx := f.ctxA
	sel := func(q interface {
		QueryRow(context.Context, string, ...any) pgx.Row
	}) error {
		var name string
		return q.QueryRow(ctx, `SELECT name FROM leads WHERE id = $1`, 1).Scan(&name)
	}
	// Warm the statement caches so that preparation is not counted.
	for range 2 {
		require.NoError(t, f.scope.Tx(ctx, f.pool, func(tx pgx.Tx) error { return sel(tx) }))
		require.NoError(t, pgx.BeginFunc(ctx, f.pool, func(tx pgx.Tx) error { return nil }))
	}
	scoped := f.count(func() {
		require.NoError(t, f.scope.Tx(ctx, f.pool, func(tx pgx.Tx) error { return sel(tx) }))
	})
	var warm string
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT name FROM leads_plain WHERE id = $1`, 1).Scan(&warm))
	plain := f.count(func() {
		tx, err := f.pool.Begin(ctx)
		require.NoError(t, err)
		var name string
		err = tx.QueryRow(ctx, `SELECT name FROM leads_plain WHERE id = $1`, 1).Scan(&name)
		require.NoError(t, err)
		require.NoError(t, tx.Commit(ctx))
	})
	assert.Equal(t, int64(3), scoped, "BEGIN+set_config, SELECT, COMMIT")
	assert.Equal(t, plain, scoped, "a scoped transaction must cost the round trips of a plain one")

	b := &pgx.Batch{}
	b.Queue(`SELECT name FROM leads WHERE id = $1`, 1)
	_ = f.scope.SendBatch(ctx, f.pool, b).Close()
	batch := f.count(func() {
		b := &pgx.Batch{}
		b.Queue(`SELECT name FROM leads WHERE id = $1`, 1)
		br := f.scope.SendBatch(ctx, f.pool, b)
		var name string
		require.NoError(t, br.QueryRow().Scan(&name))
		require.NoError(t, br.Close())
	})
	assert.Equal(t, int64(1), batch, "a scoped batch is one round trip")
}

func TestSendBatchIsScopedToTheBatch(t *testing.T) {
	f := newFixture(t, 1)
	b := &pgx.Batch{}
	b.Queue(`SELECT count(*) FROM leads`)
	b.Queue(`SELECT count(*) FROM leads WHERE tenant_id <> current_setting('tenantwall.tenant_id')`)
	br := f.scope.SendBatch(f.ctxB, f.pool, b)
	var n, foreign int
	require.NoError(t, br.QueryRow().Scan(&n))
	require.NoError(t, br.QueryRow().Scan(&foreign))
	require.NoError(t, br.Close())
	assert.Equal(t, 100, n)
	assert.Zero(t, foreign)

	// The same (only) connection afterwards has no tenant.
	_, err := f.pool.Exec(context.Background(), `SELECT * FROM leads`)
	require.Error(t, err)

	begins := &pgx.Batch{}
	begins.BeginTx(pgx.TxOptions{})
	assert.ErrorIs(t, f.scope.SendBatch(f.ctxA, f.pool, begins).Close(), pgxscope.ErrOpenTransaction)
}

func TestPoolHygieneAfterFailures(t *testing.T) {
	f := newFixture(t, 1)
	noTenant := func() {
		t.Helper()
		rows, err := f.pool.Query(context.Background(), `SELECT tenant_id FROM leads`)
		if err == nil {
			for rows.Next() {
			}
			err = rows.Err()
			rows.Close()
		}
		require.Error(t, err, "a statement with no tenant must fail, never see the last tenant's rows")
		assert.Zero(t, f.pool.Stat().AcquiredConns())
	}
	require.NoError(t, f.scope.Tx(f.ctxA, f.pool, func(pgx.Tx) error { return nil }))
	noTenant()
	boom := errors.New("boom")
	assert.ErrorIs(t, f.scope.Tx(f.ctxA, f.pool, func(pgx.Tx) error { return boom }), boom)
	noTenant()
	assert.Error(t, f.scope.Tx(f.ctxA, f.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(f.ctxA, `SELECT * FROM nowhere`)
		return err
	}))
	noTenant()
	assert.Panics(t, func() { _ = f.scope.Tx(f.ctxA, f.pool, func(pgx.Tx) error { panic("x") }) })
	noTenant()
}

func TestOptions(t *testing.T) {
	_, err := pgxscope.New(pgxscope.WithSetting("bad setting"))
	assert.ErrorIs(t, err, sqlscope.ErrIdentifier)
	s, err := pgxscope.New(pgxscope.WithSetting("app.tenant"))
	require.NoError(t, err)
	assert.NotNil(t, s)
}
