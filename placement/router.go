package placement

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantwall/tenantwall/sqlscope"
	"github.com/tenantwall/tenantwall/sqlscope/pgxscope"
	"github.com/tenantwall/tenantwall/tenant"
)

// Placement is one database that holds tenants' rows: the application
// role's handle and its RLS over it.
type Placement struct {
	// DB is the application role's handle on the database (a role row
	// level security binds; see sqlscope.NewRLS).
	DB *sql.DB
	// RLS runs scoped transactions on DB (sqlscope.NewRLS(ctx, DB, …)).
	RLS *sqlscope.RLS
	// Pool and Scope, both or neither, let Handle.PgxTx run pgxscope
	// transactions on the same database: a pgx pool as the application
	// role, and the Scope that checks it.
	Pool  *pgxpool.Pool
	Scope *pgxscope.Scope
}

// Router gives the scoped handle for the context tenant: its placement
// is read from the Directory on every transaction, so a move takes effect
// at once in every process that shares the Directory. A tenant whose
// placement is unknown to the Router is refused, never served from
// another database. It is safe for concurrent use; it closes nothing.
type Router struct {
	dir        Directory
	placements map[string]Placement
	auditor    tenant.Auditor
}

// New returns a Router over dir and the named placements. Each name must
// be an identifier (sqlscope.QuoteIdent) and each Placement complete.
// Options: WithAuditor.
func New(dir Directory, placements map[string]Placement, opts ...Option) (*Router, error) {
	if dir == nil {
		return nil, errors.New("placement: New: no Directory")
	}
	var o options // a nil auditor is tenant.DefaultAuditor when used
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	r := &Router{dir: dir, placements: make(map[string]Placement, len(placements)), auditor: o.auditor}
	for name, p := range placements {
		if _, err := sqlscope.QuoteIdent(name); err != nil {
			return nil, fmt.Errorf("placement: New: placement name: %w", err)
		}
		if p.DB == nil || p.RLS == nil {
			return nil, fmt.Errorf("placement: New: placement %s lacks its DB or RLS", name)
		}
		if (p.Pool == nil) != (p.Scope == nil) {
			return nil, fmt.Errorf("placement: New: placement %s has one of Pool and Scope without the other", name)
		}
		r.placements[name] = p
	}
	return r, nil
}

// Handle is the scoped handle of one tenant on its placement, as For
// found it. Its transactions check, inside each transaction, that the
// tenant is not being moved and still lives there.
type Handle struct {
	r        *Router
	id, name string
	p        Placement
}

// For returns the scoped handle for the context tenant. Without a tenant
// it returns tenant.ErrNoTenant; a tenant without a placement,
// ErrNotPlaced; a placement the Router does not know,
// ErrUnknownPlacement.
func (r *Router) For(ctx context.Context) (*Handle, error) {
	id, err := tenant.IDFromContext(ctx)
	if err != nil {
		return nil, err
	}
	return r.handle(ctx, id)
}

func (r *Router) handle(ctx context.Context, id string) (*Handle, error) {
	name, err := r.dir.Placement(ctx, id)
	if err != nil {
		return nil, err
	}
	p, ok := r.placements[name]
	if !ok {
		return nil, fmt.Errorf("%w: tenant %s is placed in %q, which this Router does not have", ErrUnknownPlacement, id, name)
	}
	return &Handle{r: r, id: id, name: name, p: p}, nil
}

// Name is the handle's placement.
func (h *Handle) Name() string { return h.name }

// Tx is sqlscope.RLS.Tx on the tenant's placement, for the tenant the
// handle was made for (ctx must carry the same tenant). Before fn runs it
// takes the tenant's move lock in shared mode without waiting, so a
// tenant being moved gets ErrMoving, and reads the Directory again, so a
// tenant moved since For gets its new placement's transaction instead.
func (h *Handle) Tx(ctx context.Context, fn func(*sql.Tx) error) error {
	return h.TxOptions(ctx, nil, fn)
}

// TxOptions is Tx with transaction options.
func (h *Handle) TxOptions(ctx context.Context, opts *sql.TxOptions, fn func(*sql.Tx) error) error {
	return h.txOptions(ctx, opts, fn, true)
}

func (h *Handle) txOptions(ctx context.Context, opts *sql.TxOptions, fn func(*sql.Tx) error, retry bool) error {
	id, err := h.tenant(ctx)
	if err != nil {
		return err
	}
	err = h.p.RLS.TxOptions(ctx, opts, func(tx *sql.Tx) error {
		if err := h.enter(ctx, id, func(q string, args ...any) rowScanner { return tx.QueryRowContext(ctx, q, args...) }); err != nil {
			return err
		}
		return fn(tx)
	})
	if errors.Is(err, errMoved) {
		next, err := h.next(ctx, id, retry)
		if err != nil {
			return err
		}
		return next.txOptions(ctx, opts, fn, false)
	}
	return err
}

// PgxTx is pgxscope.Scope.Tx on the placement's pgx pool, with the same
// checks as Tx. A placement without a Pool refuses it with
// ErrUnknownPlacement.
func (h *Handle) PgxTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return h.pgxTx(ctx, fn, true)
}

func (h *Handle) pgxTx(ctx context.Context, fn func(pgx.Tx) error, retry bool) error {
	id, err := h.tenant(ctx)
	if err != nil {
		return err
	}
	if h.p.Pool == nil {
		return fmt.Errorf("%w: placement %s has no pgx pool", ErrUnknownPlacement, h.name)
	}
	err = h.p.Scope.Tx(ctx, h.p.Pool, func(tx pgx.Tx) error {
		if err := h.enter(ctx, id, func(q string, args ...any) rowScanner { return tx.QueryRow(ctx, q, args...) }); err != nil {
			return err
		}
		return fn(tx)
	})
	if errors.Is(err, errMoved) {
		next, err := h.next(ctx, id, retry)
		if err != nil {
			return err
		}
		return next.pgxTx(ctx, fn, false)
	}
	return err
}

// tenant returns the context tenant, which must be the handle's.
func (h *Handle) tenant(ctx context.Context) (string, error) {
	id, err := tenant.IDFromContext(ctx)
	if err != nil {
		return "", err
	}
	if id != h.id {
		return "", fmt.Errorf("%w: the handle is tenant %s's, the context carries %s", ErrTenantMismatch, h.id, id)
	}
	return id, nil
}

type rowScanner interface{ Scan(dest ...any) error }

// enter runs first in each of the tenant's transactions: the move lock,
// shared and without waiting, then the placement read again under it.
func (h *Handle) enter(ctx context.Context, id string, queryRow func(string, ...any) rowScanner) error {
	var locked bool
	if err := queryRow(`SELECT pg_try_advisory_xact_lock_shared(hashtextextended($1, 0))`, moveKey(id)).Scan(&locked); err != nil {
		return fmt.Errorf("placement: move lock: %w", err)
	}
	if !locked {
		return fmt.Errorf("%w: tenant %s", ErrMoving, id)
	}
	now, err := h.r.dir.Placement(ctx, id)
	if err != nil {
		return err
	}
	if now != h.name {
		return errMoved
	}
	return nil
}

// next is the handle of a tenant that moved since h was made; a tenant
// that moves again meanwhile is reported as moving.
func (h *Handle) next(ctx context.Context, id string, retry bool) (*Handle, error) {
	if !retry {
		return nil, fmt.Errorf("%w: tenant %s moved twice during one transaction", ErrMoving, id)
	}
	return h.r.handle(ctx, id)
}

// errMoved rolls back a transaction begun on a placement the tenant has
// just left; TxOptions retries on the new one.
var errMoved = errors.New("placement: moved")

// Tx runs fn in a scoped transaction on the context tenant's placement:
// For, then Handle.Tx.
func (r *Router) Tx(ctx context.Context, fn func(*sql.Tx) error) error {
	return r.TxOptions(ctx, nil, fn)
}

// TxOptions is Tx with transaction options.
func (r *Router) TxOptions(ctx context.Context, opts *sql.TxOptions, fn func(*sql.Tx) error) error {
	h, err := r.For(ctx)
	if err != nil {
		return err
	}
	return h.TxOptions(ctx, opts, fn)
}

// moveKey is the advisory lock key of a tenant's move, on its source
// placement: a 64-bit hash of the ID (hashtextextended), in the lock
// space the application's own advisory locks share.
func moveKey(id string) string { return "tenantwall.placement:" + id }
