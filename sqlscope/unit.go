package sqlscope

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/tenantwall/tenantwall/sqlscope/internal/unithttp"
	"github.com/tenantwall/tenantwall/tenant"
)

// DefaultStatements is how many distinct statement texts Units keeps
// prepared (WithStatements).
const DefaultStatements = 256

// Units hands each request one unit of work: a transaction scoped to the
// request's tenant, begun on the first statement and ended with the
// request (Middleware) or the function (Run). The authentication lookup
// and the handler's queries then share one BEGIN and one COMMIT, and a
// request that sends no statement opens none.
//
// Statements run through a Unit are prepared once per database
// connection and reused by every later unit: a statement text is run
// unprepared the first time, prepared on the pool in the background once
// that unit has ended (so that neither the response nor a unit holding a
// connection waits for one), and kept, up to WithStatements distinct
// texts.
//
// Units is safe for concurrent use. It does not own or close the *sql.DB.
type Units struct {
	db        *sql.DB
	rls       *RLS
	connBegin ConnBeginner
	auditor   tenant.Auditor
	onError   func(http.ResponseWriter, *http.Request, error)
	stmts     stmtCache
}

// UnitsOption configures NewUnits.
type UnitsOption func(*unitsOptions) error

type unitsOptions struct {
	rls       *RLS
	connBegin ConnBeginner
	auditor   tenant.Auditor
	onError   func(http.ResponseWriter, *http.Request, error)
	max       int
}

// WithRLS makes every unit set the tenant as RLS.Tx does —
// set_config(setting, id, true) in the unit's transaction, a bound
// parameter that ends with it — and report to r's auditor. db must be
// r's own handle. Without it a unit is a plain transaction and the
// statements must scope themselves (Filter.On(unit)).
func WithRLS(r *RLS) UnitsOption {
	return func(o *unitsOptions) error {
		if r == nil {
			return errors.New("sqlscope: WithRLS: nil RLS")
		}
		o.rls = r
		return nil
	}
}

// ConnBeginner begins a unit's transaction on a connection of its own
// with the tenant set, in fewer round trips than database/sql allows
// (BEGIN, then set_config). pgxscope.Stdlib implements it for pgx's
// database/sql driver: BEGIN and set_config pipelined in one round trip.
type ConnBeginner interface {
	// BeginScoped begins a transaction on conn in which setting holds id,
	// set by set_config(setting, id, true) with id a bound parameter, and
	// returns the function that ends it: commit, or roll back. end returns
	// an error when the transaction did not commit. Whenever conn's state
	// is not known to be idle after a failure, BeginScoped and end make
	// database/sql discard it (driver.ErrBadConn from conn.Raw).
	BeginScoped(ctx context.Context, conn *sql.Conn, opts *sql.TxOptions, setting, id string) (end func(commit bool) error, err error)
}

// WithConnBeginner makes units begin their transactions with b on a
// connection taken from db, instead of database/sql's BEGIN followed by
// set_config: one round trip less per unit. It needs WithRLS. The driver's
// own statement cache then prepares statements (WithStatements does not
// apply).
func WithConnBeginner(b ConnBeginner) UnitsOption {
	return func(o *unitsOptions) error {
		if b == nil {
			return errors.New("sqlscope: WithConnBeginner: nil ConnBeginner")
		}
		o.connBegin = b
		return nil
	}
}

// WithUnitAuditor sets where a unit used under another tenant is reported
// (default: WithRLS's auditor, else tenant.DefaultAuditor).
func WithUnitAuditor(a tenant.Auditor) UnitsOption {
	return func(o *unitsOptions) error { o.auditor = a; return nil }
}

// WithEndErrorHandler sets what Middleware answers when a unit's COMMIT
// fails before the response status is sent; err is the commit's error.
// The default answers 503 with Retry-After when IsUnavailable(err), else
// 500, with a plain-text body.
func WithEndErrorHandler(h func(w http.ResponseWriter, r *http.Request, err error)) UnitsOption {
	return func(o *unitsOptions) error {
		if h == nil {
			return errors.New("sqlscope: WithEndErrorHandler: nil handler")
		}
		o.onError = h
		return nil
	}
}

// WithStatements sets how many distinct statement texts are kept prepared
// (default DefaultStatements); 0 prepares none.
func WithStatements(n int) UnitsOption {
	return func(o *unitsOptions) error {
		if n < 0 {
			return fmt.Errorf("sqlscope: WithStatements: %d is negative", n)
		}
		o.max = n
		return nil
	}
}

// NewUnits returns Units that begin their transactions on db.
func NewUnits(db *sql.DB, opts ...UnitsOption) (*Units, error) {
	o := unitsOptions{onError: defaultEndError, max: DefaultStatements}
	for _, f := range opts {
		if err := f(&o); err != nil {
			return nil, err
		}
	}
	if db == nil {
		return nil, errors.New("sqlscope: NewUnits: db is nil")
	}
	if o.rls != nil && o.rls.db != db {
		return nil, errors.New("sqlscope: NewUnits: db is not the RLS's handle, whose role it checked")
	}
	if o.connBegin != nil && o.rls == nil {
		return nil, errors.New("sqlscope: NewUnits: WithConnBeginner needs WithRLS, whose setting it sets")
	}
	if o.auditor == nil && o.rls != nil {
		o.auditor = o.rls.auditor
	}
	u := &Units{db: db, rls: o.rls, connBegin: o.connBegin, auditor: tenant.OrDefault(o.auditor), onError: o.onError}
	u.stmts.max = o.max
	return u, nil
}

func defaultEndError(w http.ResponseWriter, _ *http.Request, err error) {
	code := http.StatusInternalServerError
	if IsUnavailable(err) {
		w.Header().Set("Retry-After", "1")
		code = http.StatusServiceUnavailable
	}
	http.Error(w, http.StatusText(code), code)
}

type unitKey struct{}

// UnitFromContext returns the unit Middleware or Run put in ctx, unless
// WithoutUnit removed it.
func UnitFromContext(ctx context.Context) (*Unit, bool) {
	u, ok := ctx.Value(unitKey{}).(*Unit)
	return u, ok && u != nil
}

// WithoutUnit returns ctx without its unit, for work that may outlive the
// request whose unit ctx carries: a load that concurrent requests share
// (cachekey's read-through runs it with the first caller's context) must
// run in a transaction of its own, or every waiter gets ErrUnitEnded once
// that first request has ended.
func WithoutUnit(ctx context.Context) context.Context {
	return context.WithValue(ctx, unitKey{}, (*Unit)(nil))
}

// Run runs fn with a unit bound to ctx's tenant in the context it is
// given, then commits the unit's transaction if fn returned nil and rolls
// it back otherwise (and on a panic). It returns fn's error, or the
// commit's.
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

// Middleware gives each request a unit bound to the request's tenant (so
// it goes after the middleware that resolves the tenant), found with
// UnitFromContext. The unit ends when the response status is decided:
//
//   - a status below 400 (written by WriteHeader, by the first Write, or
//     the implicit 200 of a handler that wrote nothing) commits first, and
//     is sent only if the COMMIT succeeded: a write that fails to commit is
//     never answered 2xx. When the COMMIT fails, the handler's headers are
//     dropped, WithEndErrorHandler answers instead, and the handler's
//     later writes are discarded with an error;
//   - a status of 400 or above rolls back, and so does a panic (which is
//     then re-raised) or the end of the request's context;
//   - informational statuses (1xx) are passed on and decide nothing.
//
// A request with a safe method (GET, HEAD, OPTIONS, TRACE) gets a
// read-only transaction (sql.TxOptions.ReadOnly): PostgreSQL refuses its
// writes. On SQLite, open the database with _txlock=immediate
// (modernc.org/sqlite) so that the other requests take the write lock at
// BEGIN and wait for it (busy_timeout): a deferred transaction that reads
// (the user lookup) and then writes fails at once with SQLITE_BUSY when
// another connection is writing.
//
// A statement sent through the unit after that — from the handler, after
// writing the status, or from a goroutine that outlived the request —
// returns ErrUnitEnded. Read everything the response needs before writing
// its status. Requests that send no statement begin no transaction.
// Leave out routes that hijack the connection (WebSockets) or read a large
// body after their first statement: their unit, and its connection, would
// stay open for as long.
func (us *Units) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u := us.begin(r.Context())
		if unithttp.ReadOnly(r.Method) {
			u.opts = &sql.TxOptions{ReadOnly: true}
		}
		unithttp.Serve(w, r.WithContext(context.WithValue(r.Context(), unitKey{}, u)), next, u.end, us.onError, ErrUnitEnded)
	})
}

func (us *Units) begin(ctx context.Context) *Unit {
	id, _ := tenant.IDFromContext(ctx)
	return &Unit{units: us, ctx: ctx, id: id}
}

// Unit is one request's scoped unit of work, bound to the tenant of the
// request it was made for. It is a Querier, so it can be given to
// Filter.On. Its transaction begins with its first statement; every
// statement checks first that its context carries the unit's tenant.
// Without a tenant it returns tenant.ErrNoTenant; under another tenant it
// returns ErrUnitTenant and reports the attempt to the auditor; after the
// unit ended it returns ErrUnitEnded. None of them sends anything.
//
// A Unit is safe for concurrent use, but its statements share one
// connection, as a *sql.Tx's do: read each result before the next
// statement.
type Unit struct {
	units *Units
	ctx   context.Context // the request's: the transaction ends with it
	id    string          // bound tenant ID; empty when the request had none
	opts  *sql.TxOptions

	mu    sync.Mutex
	tx    *sql.Tx
	conn  *sql.Conn               // with a ConnBeginner, instead of tx
	close func(commit bool) error // ends conn's transaction
	ended bool
	fresh []string // statement texts run unprepared, prepared at the end
	after []func() // OnCommit's
}

// OnCommit has fn called once the unit's transaction has committed —
// before the response status is sent, in the request's goroutine — and
// never if it rolls back. Use it for what must not happen for a write that
// is not kept: invalidating a cache (another request could refill it from
// the data not yet committed), publishing an event. A unit that sent no
// statement commits trivially. After the unit ended it returns
// ErrUnitEnded and does not call fn.
func (u *Unit) OnCommit(fn func()) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.ended {
		return ErrUnitEnded
	}
	u.after = append(u.after, fn)
	return nil
}

// QueryContext runs a query in the unit's transaction.
func (u *Unit) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	tx, st, err := u.stmt(ctx, query)
	switch {
	case err != nil:
		return nil, err
	case tx == nil:
		return u.conn.QueryContext(ctx, query, args...)
	case st != nil:
		return tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return tx.QueryContext(ctx, query, args...)
}

// QueryRowContext runs a query expected to return at most one row in the
// unit's transaction.
func (u *Unit) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	tx, st, err := u.stmt(ctx, query)
	switch {
	case err != nil:
		return errRow(err)
	case tx == nil:
		return u.conn.QueryRowContext(ctx, query, args...)
	case st != nil:
		return tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return tx.QueryRowContext(ctx, query, args...)
}

// ExecContext runs a statement in the unit's transaction.
func (u *Unit) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	tx, st, err := u.stmt(ctx, query)
	switch {
	case err != nil:
		return nil, err
	case tx == nil:
		return u.conn.ExecContext(ctx, query, args...)
	case st != nil:
		return tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, query, args...)
}

// stmt checks ctx against the unit, begins the transaction if this is the
// unit's first statement, and returns the prepared statement for query if
// there is one. A nil tx without an error means the unit runs on u.conn.
func (u *Unit) stmt(ctx context.Context, query string) (*sql.Tx, *sql.Stmt, error) {
	id, err := tenant.IDFromContext(ctx)
	if err != nil {
		return nil, nil, err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	switch {
	case u.ended:
		return nil, nil, ErrUnitEnded
	case u.id == "":
		return nil, nil, fmt.Errorf("%w: the request had no tenant when its unit was made", tenant.ErrNoTenant)
	case id != u.id:
		u.units.auditor.Audit(ctx, tenant.Event{Kind: tenant.EventCrossTenant, Package: "sqlscope",
			TenantID: id, OwnerID: u.id, Resource: "unit of work of another tenant's request"})
		return nil, nil, fmt.Errorf("%w: a statement of tenant %q on a unit of tenant %q", ErrUnitTenant, id, u.id)
	}
	if u.tx == nil && u.conn == nil {
		if err := u.open(); err != nil {
			return nil, nil, err
		}
	}
	if u.conn != nil {
		return nil, nil, nil
	}
	st, ok := u.units.stmts.get(query)
	if !ok && len(u.fresh) < u.units.stmts.max {
		u.fresh = append(u.fresh, query)
	}
	return u.tx, st, nil
}

// open begins the transaction on the request's context, so that it rolls
// back if the request ends before the unit does. Called with u.mu held.
func (u *Unit) open() error {
	if b := u.units.connBegin; b != nil {
		conn, err := u.units.db.Conn(u.ctx)
		if err != nil {
			return fmt.Errorf("sqlscope: begin unit: %w", err)
		}
		end, err := b.BeginScoped(u.ctx, conn, u.opts, u.units.rls.setting, u.id)
		if err != nil {
			_ = conn.Close()
			return fmt.Errorf("sqlscope: begin unit: %w", err)
		}
		u.conn, u.close = conn, end
		return nil
	}
	tx, err := u.units.db.BeginTx(u.ctx, u.opts)
	if err != nil {
		return fmt.Errorf("sqlscope: begin unit: %w", err)
	}
	if r := u.units.rls; r != nil {
		if _, err := tx.ExecContext(u.ctx, `SELECT set_config($1, $2, true)`, r.setting, u.id); err != nil {
			_ = tx.Rollback()
			return fmt.Errorf("sqlscope: set tenant: %w", err)
		}
	}
	u.tx = tx
	return nil
}

// end commits or rolls back the unit's transaction, if it began, and
// refuses every later statement. It then prepares the statements the
// unit ran unprepared, now that it holds no connection.
func (u *Unit) end(commit bool) error {
	u.mu.Lock()
	if u.ended {
		u.mu.Unlock()
		return nil
	}
	u.ended = true
	tx, fresh, after := u.tx, u.fresh, u.after
	conn, closeTx := u.conn, u.close
	u.tx, u.fresh, u.after, u.conn, u.close = nil, nil, nil, nil, nil
	u.mu.Unlock()
	var err error
	switch {
	case conn != nil:
		if err = closeTx(commit); err != nil && commit {
			err = fmt.Errorf("sqlscope: commit unit: %w", err)
		} else if !commit {
			err = nil
		}
		_ = conn.Close()
	case tx == nil:
	case commit:
		if err = tx.Commit(); err != nil {
			err = fmt.Errorf("sqlscope: commit unit: %w", err)
		}
	default:
		_ = tx.Rollback()
	}
	if commit && err == nil {
		for _, fn := range after {
			fn()
		}
	}
	u.units.stmts.prepareLater(u.units.db, fresh)
	return err
}

// prepareTimeout bounds the preparation of one statement, which waits for
// a free connection of the pool like any statement.
const prepareTimeout = 5 * time.Second

// prepareAttempts is how many times a text that fails to prepare is
// tried before it is run unprepared for good.
const prepareAttempts = 3

// stmtCache holds the prepared statements shared by every unit. A nil
// entry is a text that failed to prepare prepareAttempts times: it is run
// unprepared.
type stmtCache struct {
	mu      sync.RWMutex
	m       map[string]*sql.Stmt
	pending map[string]bool // being prepared
	failed  map[string]int  // failed attempts
	max     int
	wg      sync.WaitGroup // preparations in flight
}

func (c *stmtCache) get(q string) (*sql.Stmt, bool) {
	c.mu.RLock()
	st, ok := c.m[q]
	c.mu.RUnlock()
	return st, ok
}

// prepareLater prepares the texts not yet known, in the background: the
// unit that ran them has ended, and neither its response nor its
// goroutine waits for a pool connection to prepare them. A text that
// failed (a busy or unavailable database, a statement the driver cannot
// prepare) is tried again after a later unit ran it, up to
// prepareAttempts times.
func (c *stmtCache) prepareLater(db *sql.DB, qs []string) {
	if len(qs) == 0 {
		return
	}
	// Once the cache is full no text gets in: decide that under the read
	// lock, or every unit with a text past the cap would take the write
	// lock that every statement's get waits on.
	c.mu.RLock()
	full := len(c.m)+len(c.pending) >= c.max
	c.mu.RUnlock()
	if full {
		return
	}
	c.mu.Lock()
	var todo []string
	for _, q := range qs {
		if _, ok := c.m[q]; ok || c.pending[q] || len(c.m)+len(c.pending) >= c.max {
			continue
		}
		if c.pending == nil {
			c.pending = map[string]bool{}
		}
		c.pending[q] = true
		todo = append(todo, q)
	}
	c.mu.Unlock()
	if len(todo) == 0 {
		return
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for _, q := range todo {
			ctx, cancel := context.WithTimeout(context.Background(), prepareTimeout)
			st, err := db.PrepareContext(ctx, q)
			cancel()
			c.mu.Lock()
			delete(c.pending, q)
			if c.m == nil {
				c.m, c.failed = map[string]*sql.Stmt{}, map[string]int{}
			}
			if err == nil {
				c.m[q] = st
			} else if c.failed[q]++; c.failed[q] >= prepareAttempts {
				c.m[q] = nil
				delete(c.failed, q)
			}
			c.mu.Unlock()
		}
	}()
}

// errRow returns a *sql.Row whose Scan returns err. database/sql offers no
// constructor for one, so it asks refuse, a handle whose connector fails
// with the error carried by the context it is given.
func errRow(err error) *sql.Row {
	return refuse.QueryRowContext(context.WithValue(context.Background(), refuseKey{}, err), "")
}

var refuse = func() *sql.DB {
	db := sql.OpenDB(refuseConnector{})
	db.SetMaxIdleConns(0)
	return db
}()

type refuseKey struct{}

type refuseConnector struct{}

func (refuseConnector) Connect(ctx context.Context) (driver.Conn, error) {
	err, _ := ctx.Value(refuseKey{}).(error)
	if err == nil {
		err = ErrUnitEnded
	}
	return nil, err
}

func (refuseConnector) Driver() driver.Driver { return refuseDriver{} }

type refuseDriver struct{}

func (refuseDriver) Open(string) (driver.Conn, error) { return nil, ErrUnitEnded }
