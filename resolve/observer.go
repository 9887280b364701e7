package resolve

import (
	"context"
	"net/http"
	"time"
)

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

// RequestObserver is an Observer that also serves, and so can count and
// time, every request that Middleware lets through. When the Observer
// given to WithObserver implements it, Middleware hands it each such
// request instead of calling the next handler itself, with what the
// resolution already has: the clock reading it took (arrived) and the
// observer's own value for the tenant, kept beside the tenant in the
// lookup cache. A request then costs the observer no clock read and no
// lookup of its tenant of its own (telemetry.Metrics.Requests returns one).
// Requests that Middleware refuses are reported only to the Auditor.
type RequestObserver interface {
	Observer
	// ObserveTenant returns the observer's value for the tenant with this
	// ID (known to the store and active), such as its metric series. It is
	// called when the lookup cache stores the tenant, and on every request
	// the store answered rather than the cache.
	ObserveTenant(id string) any
	// ServeTenant serves req through next. The request's context carries
	// the tenant (tenant.FromContext) whose ObserveTenant value is v;
	// arrived, a time with a monotonic reading, is when Middleware
	// received the request. It must call next.ServeHTTP exactly once.
	ServeTenant(next http.Handler, w http.ResponseWriter, req *http.Request, v any, arrived time.Time)
}
