package pgxscope

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantwall/tenantwall/sqlscope"
	"github.com/tenantwall/tenantwall/tenant"
)

// setConfigSQL sets the tenant for the rest of the transaction. Written
// as a plain select list, it is a Result node with one text column: the
// cheapest statement that binds the value as a parameter. The earlier
// "select from set_config(…)" ran a function scan (a tuplestore per call)
// and, returning no column, made pgx send a Describe with every Bind. In
// BenchmarkScopedBatchPaired set_config and a select cost what BEGIN, the
// select and COMMIT cost (0.995×); the scoped batch's remaining gap is the
// policy (BENCHMARKS.md).
const setConfigSQL = `select set_config($1, $2, true)`

// Scope holds the setting name, and remembers which pools and
// connections passed the role check (see New). The zero value is not
// usable; call New. It is safe for concurrent use.
type Scope struct {
	options
	roles roleCache
}

// Option configures New.
type Option func(*options) error

type options struct {
	setting    string
	privileged string // WithPrivilegedRole's reason; empty means check
	auditor    tenant.Auditor
}

// WithSetting sets the run-time parameter that carries the tenant ID
// (default sqlscope.DefaultSetting); it must match the policies.
func WithSetting(name string) Option {
	return func(s *options) error {
		// Reuse sqlscope's validation, where an empty name means the default.
		err := fmt.Errorf("%w: empty setting", sqlscope.ErrIdentifier)
		if name != "" {
			_, err = sqlscope.FunctionSQL(name)
		}
		if err != nil {
			return fmt.Errorf("pgxscope: WithSetting: %w", err)
		}
		s.setting = name
		return nil
	}
}

// New returns a Scope. A Scope refuses to run Tx or SendBatch through a
// pool or connection whose role row level security does not bind, with
// sqlscope.ErrPrivilegedRole naming each problem and its fix (see
// sqlscope.NewRLS for what counts). It checks on first use, before
// anything scoped is sent: once per *pgxpool.Pool, once per connection
// otherwise, remembering only a role that passed. That first use costs
// one round trip more. WithPrivilegedRole turns the check off, and New
// reports its reason to the auditor.
func New(opts ...Option) (*Scope, error) {
	s := &Scope{options: options{setting: sqlscope.DefaultSetting, auditor: tenant.DefaultAuditor}}
	for _, o := range opts {
		if err := o(&s.options); err != nil {
			return nil, err
		}
	}
	if s.privileged != "" {
		s.auditor.Audit(context.Background(), tenant.Event{Kind: tenant.EventPlatformAccess, Package: "pgxscope",
			Resource: "Scope on roles not checked for privileges (WithPrivilegedRole): " + s.privileged})
	}
	return s, nil
}

// Batcher is what scoped statements are sent through: a *pgxpool.Pool, a
// *pgx.Conn, or a pgx.Tx or *pgxpool.Conn (SendBatch takes only these).
type Batcher interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// Tx begins a transaction on db scoped to the context tenant — BEGIN and
// set_config pipelined in one round trip with pgx's Batch.BeginTx — runs
// fn with it, and commits, or rolls back if fn returns an error or panics.
// On a pool, the connection is released when the transaction ends, and
// pgxpool destroys a connection that is not idle, so a failure can never
// hand a scoped session to another request. db must not be a pgx.Tx:
// pgx refuses to begin a transaction from a batch inside one, and Tx
// returns that error without running fn (inside a transaction, use
// SendBatch, whose setting then lasts until that transaction ends).
//
// fn must not end the transaction itself. If it does (COMMIT, ROLLBACK or
// END sent as text), the setting ends with it, whatever fn sends after
// runs without a tenant, and Tx returns ErrTransactionEnded (joined with
// fn's error, if any) instead of committing. This is read from the
// transaction status PostgreSQL reported last, at no round trip's cost.
func (s *Scope) Tx(ctx context.Context, db Batcher, fn func(pgx.Tx) error) error {
	return s.TxOptions(ctx, db, pgx.TxOptions{}, fn)
}

// TxOptions is Tx with pgx transaction options (isolation, access mode).
func (s *Scope) TxOptions(ctx context.Context, db Batcher, opts pgx.TxOptions, fn func(pgx.Tx) error) error {
	id, err := tenant.IDFromContext(ctx)
	if err != nil {
		return err
	}
	if err := s.checkRole(ctx, db); err != nil {
		return err
	}
	b := &pgx.Batch{}
	b.BeginTx(opts)
	b.Queue(setConfigSQL, s.setting, id)
	return runBatchTx(ctx, db, b, fn)
}

// runBatchTx sends b, which begins a transaction and then sets it up in
// the same round trip, and runs fn in that transaction: committed on
// success, rolled back on error or panic.
func runBatchTx(ctx context.Context, db Batcher, b *pgx.Batch, fn func(pgx.Tx) error) (err error) {
	br := db.SendBatch(ctx, b)
	tx := br.Tx()
	// Close reads every result and returns the first error.
	err = br.Close()
	if tx == nil {
		return fmt.Errorf("pgxscope: %T did not begin a transaction from the batch", db)
	}
	if err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return fmt.Errorf("pgxscope: begin scoped transaction: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
			panic(p)
		}
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	err = fn(tx)
	// fn holds the pgx.Tx and can send COMMIT or ROLLBACK as text. The
	// setting ended with that transaction, so what fn sent afterwards ran
	// without a tenant; say so rather than commit as if nothing happened.
	// The status is the one PostgreSQL reported last: no round trip.
	if tx.Conn().PgConn().TxStatus() == 'I' && !tx.Conn().IsClosed() {
		return errors.Join(err, fmt.Errorf("%w: the callback ended the transaction; the statements after its end ran without a tenant", ErrTransactionEnded))
	}
	if err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// SendBatch sends b through db in one round trip with the tenant setting
// queued first. Outside a transaction the batch runs as one implicit
// transaction, so the setting lasts exactly as long as the batch; inside
// a caller's transaction (db a pgx.Tx) it lasts until that transaction
// ends. Read results as usual; the set_config result has already been
// consumed. Close the results: on a pool, Close releases the connection.
//
// db must be a *pgxpool.Pool, a *pgx.Conn, or a value whose Conn method
// returns its *pgx.Conn (pgx.Tx, *pgxpool.Conn, *pgxpool.Tx), because
// Close reads the connection's transaction status, which PostgreSQL
// reports after every batch; any other Batcher is refused with
// ErrBatcher before anything is sent.
//
// The statements decide nothing by their text. If a batch sent outside a
// transaction leaves one open or failed (a BEGIN or START TRANSACTION in
// any spelling, at any position), Close rolls it back, so the setting and
// everything the batch did are gone, and returns ErrOpenTransaction; if
// the rollback fails, the connection is closed (a pool then destroys it).
// If a batch inside a caller's transaction ends it (COMMIT, ROLLBACK),
// Close returns ErrTransactionEnded: the setting ended with that
// transaction, and the statements after the COMMIT ran without a tenant.
func (s *Scope) SendBatch(ctx context.Context, db Batcher, b *pgx.Batch) pgx.BatchResults {
	id, err := tenant.IDFromContext(ctx)
	if err != nil {
		return errResults{err}
	}
	if err := s.checkRole(ctx, db); err != nil {
		return errResults{err}
	}
	r := &scopedResults{ctx: ctx}
	switch d := db.(type) {
	case *pgxpool.Pool:
		// Acquire here rather than through Pool.SendBatch, which hides
		// the connection whose status must be read after the batch.
		if r.acquired, err = d.Acquire(ctx); err != nil {
			return errResults{fmt.Errorf("pgxscope: SendBatch: %w", err)}
		}
		r.conn = r.acquired.Conn()
		db = r.acquired
	case *pgx.Conn:
		r.conn = d
	case interface{ Conn() *pgx.Conn }:
		r.conn = d.Conn()
	default:
		return errResults{fmt.Errorf("%w %T: SendBatch cannot read its transaction status", ErrBatcher, db)}
	}
	r.before = r.conn.PgConn().TxStatus()
	scoped := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, len(b.QueuedQueries)+1)}
	scoped.QueuedQueries = append(scoped.QueuedQueries, &pgx.QueuedQuery{SQL: setConfigSQL, Arguments: []any{s.setting, id}})
	scoped.QueuedQueries = append(scoped.QueuedQueries, b.QueuedQueries...)
	r.br = db.SendBatch(ctx, scoped)
	if _, err := r.br.Exec(); err != nil {
		// A failed set_config aborts the rest of the batch before any of
		// the caller's statements ran, so none of them can have opened or
		// ended a transaction; close releases the connection.
		_ = r.close()
		return errResults{fmt.Errorf("pgxscope: set tenant: %w", err)}
	}
	return r
}

// rollbackTimeout bounds the rollback of a batch that left a transaction
// open: it runs even when the caller's context has ended, but a dead
// server must not hold the caller forever.
const rollbackTimeout = 10 * time.Second

// scopedResults are the results of a scoped batch. Close checks, from the
// status PostgreSQL reported at the end of the batch, that the batch left
// the transaction as it found it.
type scopedResults struct {
	ctx      context.Context
	br       pgx.BatchResults
	conn     *pgx.Conn
	acquired *pgxpool.Conn // released by Close; nil unless db was a pool
	before   byte          // transaction status before the batch
	closed   bool
	err      error
}

func (r *scopedResults) Exec() (pgconn.CommandTag, error) { return r.br.Exec() }
func (r *scopedResults) Query() (pgx.Rows, error)         { return r.br.Query() }
func (r *scopedResults) QueryRow() pgx.Row                { return r.br.QueryRow() }
func (r *scopedResults) Tx() pgx.Tx                       { return nil }

func (r *scopedResults) Close() error {
	if !r.closed {
		r.err = r.close()
	}
	return r.err
}

func (r *scopedResults) close() (err error) {
	r.closed = true
	defer func() {
		if p := recover(); p != nil {
			// A queued query's callback panicked half-way through the
			// results: the transaction status is unknown, so the
			// connection cannot be trusted with another statement.
			closeNow(r.conn)
			r.release()
			panic(p)
		}
		r.release()
	}()
	err = r.br.Close()
	if r.conn.IsClosed() {
		return err
	}
	switch after := r.conn.PgConn().TxStatus(); {
	case r.before == 'I' && after != 'I':
		err = errors.Join(err, r.rollback(after))
	case r.before == 'T' && after == 'I':
		err = errors.Join(err, fmt.Errorf("%w: the batch ended the caller's transaction; the statements after its end ran without a tenant", ErrTransactionEnded))
	}
	return err
}

// release hands an acquired connection back to its pool. pgxpool destroys
// a closed connection, or one not idle, instead of handing it out again;
// closing the *pgx.Conn is also how a connection the caller acquired is
// destroyed (Hijack would leave the caller's *pgxpool.Conn unusable).
func (r *scopedResults) release() {
	if r.acquired != nil {
		r.acquired.Release()
		r.acquired = nil
	}
}

// rollback ends the transaction a batch left open, or closes the
// connection when that fails, so that no later statement on it runs with
// the tenant setting.
func (r *scopedResults) rollback(status byte) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), rollbackTimeout)
	defer cancel()
	_, err := r.conn.Exec(ctx, "rollback")
	if err == nil {
		if now := r.conn.PgConn().TxStatus(); now != 'I' {
			err = fmt.Errorf("transaction status %q after the rollback", now)
		} else {
			return fmt.Errorf("%w (transaction status %q after the batch); rolled back", ErrOpenTransaction, status)
		}
	}
	closeNow(r.conn)
	return fmt.Errorf("%w (transaction status %q after the batch); rollback failed, connection closed: %w", ErrOpenTransaction, status, err)
}

// closeNow closes c without waiting on the server: a canceled context
// makes pgx drop the socket at once.
func closeNow(c *pgx.Conn) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = c.Close(ctx)
}

// errResults is a pgx.BatchResults that only reports an error.
type errResults struct{ err error }

func (e errResults) Exec() (pgconn.CommandTag, error) { return pgconn.CommandTag{}, e.err }
func (e errResults) Query() (pgx.Rows, error)         { return nil, e.err }
func (e errResults) QueryRow() pgx.Row                { return errRow(e) }
func (e errResults) Close() error                     { return e.err }
func (e errResults) Tx() pgx.Tx                       { return nil }

type errRow struct{ err error }

func (e errRow) Scan(...any) error { return e.err }
