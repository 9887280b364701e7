package resolve

import "context"

// Observer is told how resolutions use the lookup cache and the store, so
// that a metrics package (such as telemetry.Metrics) can count them without
// resolve depending on it. Give one with WithObserver.
//
// Methods are called on the request path and must be safe for concurrent
// use and must not block. The context is the request's, before the tenant
// is known: it carries no tenant.
type Observer interface {
	// ResolveCache reports one resolution answered from the lookup cache
	// (hit) or not (a miss, which waits for a store lookup, possibly one
	// that another request started).
	ResolveCache(ctx context.Context, hit bool)
	// ResolveLookup reports one store lookup, shared by every request
	// that waited for the same host, and its error (nil when the store
	// answered, whether or not a tenant was found).
	ResolveLookup(ctx context.Context, err error)
}
