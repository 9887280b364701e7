package pgxscope_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/sqlscope/pgxscope"
)

// session is what the after-checks run on: the pool (whose only
// connection is the one the batch used), a connection, or an acquired
// pool connection.
type session interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// target is a way to send a scoped batch, and the session that must be
// clean afterwards.
type target struct {
	name   string
	simple bool // statements travel as one simple-protocol query string
	open   func(t *testing.T, f *fixture) (db pgxscope.Batcher, after session, status func() byte)
}

var targets = []target{
	{name: "a pool with one connection", open: func(t *testing.T, f *fixture) (pgxscope.Batcher, session, func() byte) {
		return f.pool, f.pool, poolStatus(t, f)
	}},
	{name: "a connection", open: func(t *testing.T, f *fixture) (pgxscope.Batcher, session, func() byte) {
		c := connect(t, f, pgx.QueryExecModeCacheStatement)
		return c, c, c.PgConn().TxStatus
	}},
	{name: "a simple-protocol connection", simple: true, open: func(t *testing.T, f *fixture) (pgxscope.Batcher, session, func() byte) {
		c := connect(t, f, pgx.QueryExecModeSimpleProtocol)
		return c, c, c.PgConn().TxStatus
	}},
	{name: "an acquired pool connection", open: func(t *testing.T, f *fixture) (pgxscope.Batcher, session, func() byte) {
		c, err := f.pool.Acquire(context.Background())
		require.NoError(t, err)
		t.Cleanup(c.Release)
		return c, c, c.Conn().PgConn().TxStatus
	}},
}

func connect(t *testing.T, f *fixture, mode pgx.QueryExecMode) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(f.roleURL)
	require.NoError(t, err)
	cfg.DefaultQueryExecMode = mode
	c, err := pgx.ConnectConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// assertNoTenant proves that the session carries no tenant: no open
// transaction, an empty setting, and a read of the tenant table fails
// instead of returning tenant A's rows.
func assertNoTenant(t *testing.T, f *fixture, after session, status func() byte) {
	t.Helper()
	// A connection the batch kept would block the pool's only slot: fail
	// instead of waiting forever.
	bg, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	assert.Equal(t, string('I'), string(status()), "the connection must be idle, not inside a transaction")
	var setting string
	require.NoError(t, after.QueryRow(bg, `SELECT coalesce(current_setting('tenantwall.tenant_id', true), '')`).Scan(&setting))
	assert.Empty(t, setting, "the tenant setting outlived the batch")
	rows, err := after.Query(bg, `SELECT tenant_id FROM leads`)
	seen := 0 // tenant A's rows
	if err == nil {
		for rows.Next() {
			var id string
			if rows.Scan(&id) == nil && id == f.a.ID {
				seen++
			}
		}
		err = rows.Err()
		rows.Close()
	}
	assert.Error(t, err, "a read without a tenant must fail")
	assert.Zero(t, seen, "a later read saw tenant A's rows")
	assert.Zero(t, f.pool.Stat().AcquiredConns()-acquiredByTest(after), "the batch kept a pool connection")
}

func acquiredByTest(s session) int32 {
	if _, ok := s.(*pgxpool.Conn); ok {
		return 1
	}
	return 0
}

// TestSendBatchTransactionStatus: whatever the statements of a scoped
// batch do to the transaction, the connection ends idle with no tenant,
// and a batch that left a transaction open or failed is an error.
func TestSendBatchTransactionStatus(t *testing.T) {
	const (
		ok     = iota // the batch succeeds
		fails         // a statement fails: the implicit transaction is rolled back
		either        // success or failure depends on the protocol
		open          // a transaction is left open or failed: rolled back, ErrOpenTransaction
		multi         // several statements in one string: open in simple protocol, refused otherwise
	)
	cases := []struct {
		name string
		sql  []string
		want int
	}{
		{name: "a BEGIN after a block comment", sql: []string{`/* c */ BEGIN`}, want: open},
		{name: "a BEGIN after nested block comments", sql: []string{`/* a /* b */ c */ BEGIN`}, want: open},
		{name: "a BEGIN after a line comment", sql: []string{"-- note\nBEGIN"}, want: open},
		{name: "a BEGIN after blanks and newlines", sql: []string{" \n\t\r\n  BEGIN"}, want: open},
		{name: "a plain BEGIN", sql: []string{`BEGIN`}, want: open},
		{name: "BEGIN WORK", sql: []string{`BEGIN WORK`}, want: open},
		{name: "BEGIN with the current isolation level", sql: []string{`BEGIN ISOLATION LEVEL READ COMMITTED`}, want: open},
		{name: "BEGIN READ ONLY", sql: []string{`BEGIN READ ONLY`}, want: open},
		{name: "START TRANSACTION", sql: []string{`START TRANSACTION`}, want: open},
		{name: "start transaction with options in lower case", sql: []string{`start transaction read write, isolation level read committed`}, want: open},
		// The implicit transaction has run set_config, so PostgreSQL
		// refuses another isolation level and aborts the batch.
		{name: "BEGIN with another isolation level", sql: []string{`BEGIN ISOLATION LEVEL SERIALIZABLE`}, want: fails},
		{name: "START TRANSACTION with another isolation level", sql: []string{`START TRANSACTION ISOLATION LEVEL REPEATABLE READ`}, want: fails},
		{name: "begin; as a later statement", sql: []string{`SELECT count(*) FROM leads`, `begin;`}, want: open},
		{name: "a BEGIN followed by reads", sql: []string{`BEGIN`, `SELECT count(*) FROM leads`, `SELECT 1`}, want: open},
		{name: "a BEGIN and a savepoint", sql: []string{`BEGIN`, `SAVEPOINT s`, `RELEASE SAVEPOINT s`}, want: open},
		{name: "a BEGIN then a failing statement", sql: []string{`BEGIN`, `SELECT 1/0`}, want: open},
		{name: "a ROLLBACK then a BEGIN", sql: []string{`ROLLBACK`, `BEGIN`}, want: open},
		{name: "a COMMIT then a BEGIN", sql: []string{`COMMIT`, `BEGIN`}, want: open},
		{name: "two statements in one string, the second a BEGIN", sql: []string{`SELECT 1; BEGIN`}, want: multi},
		{name: "a failing statement", sql: []string{`SELECT 1/0`}, want: fails},
		{name: "a failing statement mid-pipeline", sql: []string{`SELECT count(*) FROM leads`, `SELECT 1/0`, `SELECT count(*) FROM leads`}, want: fails},
		{name: "a failing statement before a BEGIN", sql: []string{`SELECT 1/0`, `BEGIN`}, want: fails},
		{name: "a SAVEPOINT outside a transaction", sql: []string{`SAVEPOINT s`}, want: fails},
		{name: "a COMMIT then a read of the tenant table", sql: []string{`COMMIT`, `SELECT count(*) FROM leads`}, want: fails},
		{name: "a DO block that commits then a read of the tenant table", sql: []string{`DO $$BEGIN COMMIT; END$$`, `SELECT count(*) FROM leads`}, want: fails},
		{name: "a DO block that commits", sql: []string{`DO $$BEGIN COMMIT; END$$`}, want: either},
		{name: "a DO block", sql: []string{`DO $$BEGIN PERFORM 1; END$$`}, want: ok},
		{name: "a BEGIN closed by a COMMIT", sql: []string{`BEGIN`, `SELECT count(*) FROM leads`, `COMMIT`}, want: ok},
		{name: "a COMMIT alone", sql: []string{`COMMIT`}, want: ok},
	}
	for _, tg := range targets {
		t.Run("on "+tg.name, func(t *testing.T) {
			f := newFixture(t, 1)
			for _, c := range cases {
				t.Run(c.name+" leaves no tenant behind", func(t *testing.T) {
					db, after, status := tg.open(t, f)
					b := &pgx.Batch{}
					for _, q := range c.sql {
						b.Queue(q)
					}
					err := f.scope.SendBatch(f.ctxA, db, b).Close()
					want := c.want
					if want == multi && tg.simple {
						want = open
					} else if want == multi {
						want = fails
					}
					switch want {
					case open:
						assert.ErrorIs(t, err, pgxscope.ErrOpenTransaction, "a batch that leaves a transaction open must be an error")
					case fails:
						assert.Error(t, err)
						assert.NotErrorIs(t, err, pgxscope.ErrOpenTransaction)
					case either:
						assert.NotErrorIs(t, err, pgxscope.ErrOpenTransaction)
					default:
						assert.NoError(t, err)
					}
					assertNoTenant(t, f, after, status)
				})
			}
		})
	}
}

// TestSendBatchInsideATransaction: a scoped batch in a caller's
// transaction keeps its setting until that transaction ends; a batch that
// ends the caller's transaction is an error, and nothing after it runs
// with the tenant.
func TestSendBatchInsideATransaction(t *testing.T) {
	f := newFixture(t, 1)
	bg := context.Background()
	for _, c := range []struct {
		name string
		sql  []string
		want error
	}{
		{name: "a batch that reads keeps the caller's transaction", sql: []string{`SELECT count(*) FROM leads`}},
		{name: "a batch that commits ends the caller's transaction", sql: []string{`COMMIT`}, want: pgxscope.ErrTransactionEnded},
		{name: "a batch that rolls back ends the caller's transaction", sql: []string{`ROLLBACK`}, want: pgxscope.ErrTransactionEnded},
		{name: "a batch that commits and begins again leaves a transaction without the tenant", sql: []string{`COMMIT`, `BEGIN`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			tx, err := f.pool.Begin(bg)
			require.NoError(t, err)
			b := &pgx.Batch{}
			for _, q := range c.sql {
				b.Queue(q)
			}
			err = f.scope.SendBatch(f.ctxA, tx, b).Close()
			if c.want != nil {
				assert.ErrorIs(t, err, c.want)
			} else {
				require.NoError(t, err)
			}
			// Whatever the batch did, a read in what follows sees either
			// the caller's scoped transaction or no tenant at all.
			var setting string
			if tx.Conn().PgConn().TxStatus() == 'T' {
				require.NoError(t, tx.QueryRow(bg, `SELECT coalesce(current_setting('tenantwall.tenant_id', true), '')`).Scan(&setting))
				if len(c.sql) == 1 && c.want == nil {
					assert.Equal(t, f.a.ID, setting, "inside the caller's transaction the setting lasts until it ends")
				} else {
					assert.Empty(t, setting, "a transaction begun by the batch must not carry the tenant")
				}
			}
			_ = tx.Rollback(bg)
			assertNoTenant(t, f, f.pool, poolStatus(t, f))
		})
	}
}

// TestSendBatchRefusesUnknownBatchers: the transaction status can only be
// read from pgx's own types; anything else is refused before sending.
func TestSendBatchRefusesUnknownBatchers(t *testing.T) {
	f := newFixture(t, 1)
	writes := f.count(func() {
		b := &pgx.Batch{}
		b.Queue(`SELECT 1`)
		err := f.scope.SendBatch(f.ctxA, opaque{f.pool}, b).Close()
		assert.ErrorIs(t, err, pgxscope.ErrBatcher)
	})
	assert.Zero(t, writes)
}

// opaque hides the pool behind the Batcher interface.
type opaque struct{ p *pgxpool.Pool }

func (o opaque) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	return o.p.SendBatch(ctx, b)
}

// TestTxCallbackThatEndsTheTransaction: fn receives the pgx.Tx and can
// send COMMIT or ROLLBACK as text. The setting is transaction-local, so it
// ends there: what fn runs afterwards has no tenant, Tx reports that fn
// ended the transaction, and the connection goes back with no tenant.
func TestTxCallbackThatEndsTheTransaction(t *testing.T) {
	f := newFixture(t, 1)
	for _, end := range []string{`COMMIT`, `commit`, `/* c */ END`, `ROLLBACK`, `ABORT`, `COMMIT AND NO CHAIN`} {
		t.Run(end+" inside the callback ends the scope", func(t *testing.T) {
			var afterErr error
			var seen int
			err := f.scope.Tx(f.ctxA, f.pool, func(tx pgx.Tx) error {
				if _, err := tx.Exec(f.ctxA, end); err != nil {
					return err
				}
				afterErr = tx.QueryRow(f.ctxA, `SELECT count(*) FROM leads`).Scan(&seen)
				return nil
			})
			assert.ErrorIs(t, err, pgxscope.ErrTransactionEnded)
			assert.Error(t, afterErr, "a statement after the callback's %s must run without the tenant", end)
			assert.Zero(t, seen)
			assertNoTenant(t, f, f.pool, poolStatus(t, f))
		})
	}
	t.Run("a COMMIT then a BEGIN inside the callback leaves no tenant in the new transaction", func(t *testing.T) {
		var seen int
		var afterErr error
		err := f.scope.Tx(f.ctxA, f.pool, func(tx pgx.Tx) error {
			for _, q := range []string{`COMMIT`, `BEGIN`} {
				if _, err := tx.Exec(f.ctxA, q); err != nil {
					return err
				}
			}
			afterErr = tx.QueryRow(f.ctxA, `SELECT count(*) FROM leads`).Scan(&seen)
			return nil
		})
		// The failed read aborted the new transaction, so the final
		// COMMIT rolls it back.
		assert.Error(t, err)
		assert.Error(t, afterErr)
		assert.Zero(t, seen)
		assertNoTenant(t, f, f.pool, poolStatus(t, f))
	})
	t.Run("a COMMIT then a BEGIN that does not read commits without the tenant", func(t *testing.T) {
		var setting string
		err := f.scope.Tx(f.ctxA, f.pool, func(tx pgx.Tx) error {
			for _, q := range []string{`COMMIT`, `BEGIN`} {
				if _, err := tx.Exec(f.ctxA, q); err != nil {
					return err
				}
			}
			return tx.QueryRow(f.ctxA, `SELECT coalesce(current_setting('tenantwall.tenant_id', true), '')`).Scan(&setting)
		})
		require.NoError(t, err)
		assert.Empty(t, setting)
		assertNoTenant(t, f, f.pool, poolStatus(t, f))
	})
}

func poolStatus(t *testing.T, f *fixture) func() byte {
	return func() byte {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := f.pool.Acquire(ctx)
		require.NoError(t, err)
		defer c.Release()
		return c.Conn().PgConn().TxStatus()
	}
}

// TestSendBatchRollbackFailureDestroysTheConnection: when the rollback of
// a batch that left a transaction open fails, the connection is closed,
// never handed back or left usable.
func TestSendBatchRollbackFailureDestroysTheConnection(t *testing.T) {
	f := newFixture(t, 1)
	for _, tg := range []target{targets[0], targets[1], targets[3]} {
		t.Run("on "+tg.name, func(t *testing.T) {
			db, after, status := tg.open(t, f)
			b := &pgx.Batch{}
			var pid int32
			b.Queue(`SELECT pg_backend_pid()`)
			b.Queue(`BEGIN`)
			br := f.scope.SendBatch(f.ctxA, db, b)
			require.NoError(t, br.QueryRow().Scan(&pid))
			_, err := br.Exec()
			require.NoError(t, err)
			// The server has answered the whole batch; end the backend so
			// that the rollback cannot be delivered.
			var done bool
			require.NoError(t, f.admin.QueryRow(`SELECT pg_terminate_backend($1, 10000)`, pid).Scan(&done))
			require.True(t, done)
			err = br.Close()
			assert.ErrorIs(t, err, pgxscope.ErrOpenTransaction)
			switch s := after.(type) {
			case *pgx.Conn:
				assert.True(t, s.IsClosed(), "a connection whose rollback failed must be closed")
			case *pgxpool.Conn:
				assert.True(t, s.Conn().IsClosed(), "a connection whose rollback failed must be closed")
			default:
				assertNoTenant(t, f, after, status)
			}
		})
	}
}

// TestSendBatchCallbackPanic: a queued query's callback that panics in
// Close leaves the results half read, after a BEGIN: the connection is
// closed (a pool destroys it), never reused with the tenant.
func TestSendBatchCallbackPanic(t *testing.T) {
	f := newFixture(t, 1)
	for _, tg := range []target{targets[0], targets[1], targets[3]} {
		t.Run("on "+tg.name+" the connection is not reused", func(t *testing.T) {
			db, after, status := tg.open(t, f)
			b := &pgx.Batch{}
			b.Queue(`BEGIN`)
			b.Queue(`SELECT 1`).QueryRow(func(pgx.Row) error { panic("callback") })
			b.Queue(`SELECT count(*) FROM leads`)
			br := f.scope.SendBatch(f.ctxA, db, b)
			assert.PanicsWithValue(t, "callback", func() { _ = br.Close() })
			switch s := after.(type) {
			case *pgx.Conn:
				assert.True(t, s.IsClosed())
			case *pgxpool.Conn:
				assert.True(t, s.Conn().IsClosed())
			default:
				assertNoTenant(t, f, after, status)
			}
		})
	}
}
