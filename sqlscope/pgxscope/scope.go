package pgxscope

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tenantwall/tenantwall/sqlscope"
	"github.com/tenantwall/tenantwall/tenant"
)

// setConfigSQL returns no column: the client decodes nothing for it.
const setConfigSQL = `select from set_config($1, $2, true)`

// Scope holds the setting name, and remembers which pools and
// connections passed the role check (see New). The zero value is not
// usable; call New. It is safe for concurrent use.
type Scope struct {
	setting    string
	privileged string // WithPrivilegedRole's reason; empty means check
	auditor    tenant.Auditor
	roles      roleCache
}

// Option configures a Scope.
type Option func(*Scope) error

// WithSetting sets the run-time parameter that carries the tenant ID
// (default sqlscope.DefaultSetting); it must match the policies.
func WithSetting(name string) Option {
	return func(s *Scope) error {
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
	s := &Scope{setting: sqlscope.DefaultSetting, auditor: tenant.DefaultAuditor}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, err
		}
	}
	if s.privileged != "" {
		s.auditor.Audit(context.Background(), tenant.Event{Kind: tenant.EventPlatformAccess, Package: "pgxscope",
			Resource: "Scope on roles not checked for privileges (WithPrivilegedRole): " + s.privileged})
	}
	return s, nil
}

// Batcher is what scoped statements are sent through: a *pgxpool.Pool or a
// *pgx.Conn.
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
	if err = fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// SendBatch sends b through db (a *pgxpool.Pool, *pgx.Conn or pgx.Tx) in
// one round trip with the tenant setting queued first. Outside a
// transaction the batch runs as one implicit transaction, so the setting
// lasts exactly as long as the batch. Read results as usual; the
// set_config result has already been consumed. Close the results.
func (s *Scope) SendBatch(ctx context.Context, db Batcher, b *pgx.Batch) pgx.BatchResults {
	id, err := tenant.IDFromContext(ctx)
	if err != nil {
		return errResults{err}
	}
	if err := s.checkRole(ctx, db); err != nil {
		return errResults{err}
	}
	if len(b.QueuedQueries) > 0 && len(b.QueuedQueries[0].SQL) >= 5 && strings.EqualFold(b.QueuedQueries[0].SQL[:5], "begin") {
		return errResults{fmt.Errorf("pgxscope: SendBatch: the batch begins a transaction; use Tx")}
	}
	scoped := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, len(b.QueuedQueries)+1)}
	scoped.QueuedQueries = append(scoped.QueuedQueries, &pgx.QueuedQuery{SQL: setConfigSQL, Arguments: []any{s.setting, id}})
	scoped.QueuedQueries = append(scoped.QueuedQueries, b.QueuedQueries...)
	br := db.SendBatch(ctx, scoped)
	if _, err := br.Exec(); err != nil {
		_ = br.Close()
		return errResults{fmt.Errorf("pgxscope: set tenant: %w", err)}
	}
	return br
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
