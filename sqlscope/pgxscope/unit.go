package pgxscope

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantwall/tenantwall/sqlscope"
	"github.com/tenantwall/tenantwall/sqlscope/internal/unithttp"
	"github.com/tenantwall/tenantwall/tenant"
)

// Units is sqlscope.Units on a pgx pool: it hands each request one unit
// of work, a transaction scoped to the request's tenant, begun on the
// unit's first statement with BEGIN and set_config pipelined in one round
// trip (as Tx does), and ended with the request under the same commit rule
// (see Middleware). pgx prepares and caches the statements per connection.
// It is safe for concurrent use; it does not close the pool.
type Units struct {
	scope   *Scope
	pool    *pgxpool.Pool
	onError func(http.ResponseWriter, *http.Request, error)
}

// UnitsOption configures NewUnits.
type UnitsOption func(*unitsOptions) error

type unitsOptions struct {
	onError func(http.ResponseWriter, *http.Request, error)
}

// WithEndErrorHandler sets what Middleware answers when a unit's COMMIT
// fails before the response status is sent. The default answers 503 with
// Retry-After when sqlscope.IsUnavailable(err), else 500.
func WithEndErrorHandler(h func(w http.ResponseWriter, r *http.Request, err error)) UnitsOption {
	return func(o *unitsOptions) error {
		if h == nil {
			return errors.New("pgxscope: WithEndErrorHandler: nil handler")
		}
		o.onError = h
		return nil
	}
}

// NewUnits returns Units that begin their transactions on pool with
// scope's setting, after scope's role check (see New), and report to
// scope's auditor.
func NewUnits(pool *pgxpool.Pool, scope *Scope, opts ...UnitsOption) (*Units, error) {
	o := unitsOptions{onError: defaultEndError}
	for _, f := range opts {
		if err := f(&o); err != nil {
			return nil, err
		}
	}
	if pool == nil || scope == nil {
		return nil, errors.New("pgxscope: NewUnits: nil pool or scope")
	}
	return &Units{scope: scope, pool: pool, onError: o.onError}, nil
}

func defaultEndError(w http.ResponseWriter, _ *http.Request, err error) {
	code := http.StatusInternalServerError
	if sqlscope.IsUnavailable(err) {
		w.Header().Set("Retry-After", "1")
		code = http.StatusServiceUnavailable
	}
	http.Error(w, http.StatusText(code), code)
}

type unitKey struct{}

// UnitFromContext returns the unit Middleware or Run put in ctx.
func UnitFromContext(ctx context.Context) (*Unit, bool) {
	u, ok := ctx.Value(unitKey{}).(*Unit)
	return u, ok
}

// Middleware gives each request a unit bound to the request's tenant (it
// goes after the middleware that resolves the tenant), found with
// UnitFromContext. The commit rule is sqlscope.Units.Middleware's: a
// status below 400 is sent only after the COMMIT succeeded, otherwise
// WithEndErrorHandler answers and the handler's writes are discarded; a
// status of 400 or more, a panic or the end of the request's context rolls
// back; a statement after that returns sqlscope.ErrUnitEnded. Requests
// with a safe method get a read-only transaction.
func (us *Units) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u := us.begin(r.Context())
		if unithttp.ReadOnly(r.Method) {
			u.opts.AccessMode = pgx.ReadOnly
		}
		unithttp.Serve(w, r.WithContext(context.WithValue(r.Context(), unitKey{}, u)), next, u.end, us.onError, sqlscope.ErrUnitEnded)
	})
}

// Run runs fn with a unit bound to ctx's tenant in the context it is
// given, then commits if fn returned nil and rolls back otherwise (and on
// a panic). It returns fn's error, or the commit's.
func (us *Units) Run(ctx context.Context, fn func(ctx context.Context) error) (err error) {
	u := us.begin(ctx)
	defer func() {
		if p := recover(); p != nil {
			_ = u.end(false)
			panic(p)
		}
	}()
	if err = fn(context.WithValue(ctx, unitKey{}, u)); err != nil {
		_ = u.end(false)
		return err
	}
	return u.end(true)
}

func (us *Units) begin(ctx context.Context) *Unit {
	id, _ := tenant.IDFromContext(ctx)
	return &Unit{units: us, ctx: ctx, id: id}
}

// Unit is one request's unit of work on a pgx pool, bound to the tenant
// of the request it was made for. Every statement checks first that its
// context carries that tenant: without one it returns tenant.ErrNoTenant,
// under another sqlscope.ErrUnitTenant (reported to the auditor), after
// the unit ended sqlscope.ErrUnitEnded; none of them sends anything. It is
// safe for concurrent use, but its statements share one connection: read
// each result before the next statement.
type Unit struct {
	units *Units
	ctx   context.Context // the request's: the transaction ends with it
	id    string
	opts  pgx.TxOptions

	mu    sync.Mutex
	tx    pgx.Tx
	ended bool
	after []func()
}

// Exec runs a statement in the unit's transaction.
func (u *Unit) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	tx, err := u.begun(ctx)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	return tx.Exec(ctx, sql, args...)
}

// Query runs a query in the unit's transaction.
func (u *Unit) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	tx, err := u.begun(ctx)
	if err != nil {
		return nil, err
	}
	return tx.Query(ctx, sql, args...)
}

// QueryRow runs a query expected to return at most one row in the unit's
// transaction.
func (u *Unit) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	tx, err := u.begun(ctx)
	if err != nil {
		return errRow{err}
	}
	return tx.QueryRow(ctx, sql, args...)
}

// OnCommit has fn called once the unit's transaction has committed
// (before the response status is sent), never if it rolls back. After the
// unit ended it returns sqlscope.ErrUnitEnded and does not call fn.
func (u *Unit) OnCommit(fn func()) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.ended {
		return sqlscope.ErrUnitEnded
	}
	u.after = append(u.after, fn)
	return nil
}

// begun checks ctx against the unit and begins its transaction on the
// first statement.
func (u *Unit) begun(ctx context.Context) (pgx.Tx, error) {
	id, err := tenant.IDFromContext(ctx)
	if err != nil {
		return nil, err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	switch {
	case u.ended:
		return nil, sqlscope.ErrUnitEnded
	case u.id == "":
		return nil, fmt.Errorf("%w: the request had no tenant when its unit was made", tenant.ErrNoTenant)
	case id != u.id:
		u.units.scope.auditor.Audit(ctx, tenant.Event{Kind: tenant.EventCrossTenant, Package: "pgxscope",
			TenantID: id, OwnerID: u.id, Resource: "unit of work of another tenant's request"})
		return nil, fmt.Errorf("%w: a statement of tenant %q on a unit of tenant %q", sqlscope.ErrUnitTenant, id, u.id)
	}
	if u.tx != nil {
		return u.tx, nil
	}
	if err := u.units.scope.checkRole(u.ctx, u.units.pool); err != nil {
		return nil, err
	}
	b := &pgx.Batch{}
	b.BeginTx(u.opts)
	b.Queue(setConfigSQL, u.units.scope.setting, u.id)
	br := u.units.pool.SendBatch(u.ctx, b)
	tx := br.Tx()
	err = br.Close()
	if tx == nil {
		return nil, errors.Join(err, errors.New("pgxscope: the pool did not begin a transaction from the batch"))
	}
	if err != nil {
		u.rollback(tx)
		return nil, fmt.Errorf("pgxscope: begin unit: %w", err)
	}
	u.tx = tx
	return tx, nil
}

// rollback rolls tx back within rollbackTimeout, whether or not the
// request is still there: an unbounded rollback on a stalled connection
// would hold the unit (begun holds its lock) and the connection.
func (u *Unit) rollback(tx pgx.Tx) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(u.ctx), rollbackTimeout)
	defer cancel()
	_ = tx.Rollback(ctx)
}

// end commits or rolls back the unit's transaction, if it began; its
// connection goes back to the pool (pgxpool destroys one not left idle).
func (u *Unit) end(commit bool) error {
	u.mu.Lock()
	if u.ended {
		u.mu.Unlock()
		return nil
	}
	u.ended = true
	tx, after := u.tx, u.after
	u.tx, u.after = nil, nil
	u.mu.Unlock()
	var err error
	switch {
	case tx == nil:
	case !commit:
		u.rollback(tx)
	case tx.Conn().PgConn().TxStatus() == 'I' && !tx.Conn().IsClosed():
		err = fmt.Errorf("%w: the unit's statements ended the transaction; those after its end ran without a tenant", ErrTransactionEnded)
		u.rollback(tx) // releases the connection
	default:
		if err = tx.Commit(u.ctx); err != nil {
			err = fmt.Errorf("pgxscope: commit unit: %w", err)
		}
	}
	if commit && err == nil {
		for _, fn := range after {
			fn()
		}
	}
	return err
}
