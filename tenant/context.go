package tenant

import (
	"context"
)

// tenantCtx carries a tenant that nobody may change: FromContext hands out
// copies. Cancellation still propagates without goroutines, because Done and
// Value fall through to the parent.
type tenantCtx struct {
	context.Context
	t *Tenant
}

// ownedCtx holds the context and its private copy of the tenant in one
// allocation.
type ownedCtx struct {
	tenantCtx
	own Tenant
}

type ctxKey struct{}

func (c *tenantCtx) Value(key any) any {
	if key == (ctxKey{}) {
		return c.t
	}
	return c.Context.Value(key)
}

func (c *tenantCtx) String() string { return "tenant.NewContext(" + c.t.ID + ")" }

// NewContext returns a copy of ctx that carries t. The tenant is copied, so
// later changes to the caller's value do not reach the context. It costs one
// allocation.
func NewContext(ctx context.Context, t Tenant) context.Context {
	c := &ownedCtx{own: t}
	c.Context, c.t = ctx, &c.own
	return &c.tenantCtx
}

// NewSharedContext is NewContext for a tenant value that is already
// immutable and shared, such as one held by resolve's lookup cache: the
// context keeps the pointer instead of a copy, which makes the allocation
// smaller. The caller must never modify *t afterwards. A nil t returns ctx
// unchanged.
func NewSharedContext(ctx context.Context, t *Tenant) context.Context {
	if t == nil {
		return ctx
	}
	return &tenantCtx{Context: ctx, t: t}
}

// FromContext returns the tenant carried by ctx, if any.
func FromContext(ctx context.Context) (Tenant, bool) {
	if p, ok := ctx.Value(ctxKey{}).(*Tenant); ok {
		return *p, true
	}
	return Tenant{}, false
}

// IDFromContext returns the ID of the tenant carried by ctx, or ErrNoTenant.
// It is the call the isolating packages make on their hot paths.
func IDFromContext(ctx context.Context) (string, error) {
	if p, ok := ctx.Value(ctxKey{}).(*Tenant); ok && p.ID != "" {
		return p.ID, nil
	}
	return "", ErrNoTenant
}

// MustFromContext is like FromContext but panics when ctx carries no tenant.
// Use it only where a missing tenant is a programming error, such as below
// a resolve.Middleware that always sets one.
func MustFromContext(ctx context.Context) Tenant {
	t, ok := FromContext(ctx)
	if !ok {
		panic(ErrNoTenant)
	}
	return t
}
