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

// RequestObserver serves, and so can count and time, every request that
// Middleware lets through: given with WithRequestObserver, Middleware hands
// it each such request instead of calling the next handler itself, with
// what the resolution already has: the clock reading it took (arrived)
// and the observer's own value for the tenant, kept beside the tenant in
// the lookup cache. A request then costs the observer no clock read and
// no lookup of its tenant of its own (telemetry.Metrics is one). Requests
// that Middleware refuses are reported only to the Auditor.
//
// Methods are called on the request path and must be safe for concurrent
// use and must not block.
type RequestObserver interface {
	// ObserveTenant returns the observer's value for the tenant with this
	// ID (known to the store and active), such as its metric series. It is
	// called when the lookup cache stores the tenant, whichever call
	// filled the cache (a request, Resolve, CheckOrigin, a TLS
	// handshake), once per store lookup. If it returns nil or panics
	// there, nothing is stored, and Middleware asks again on each request
	// that entry answers, on the request's goroutine.
	ObserveTenant(id string) any
	// ServeTenant serves req through next. The request's context carries
	// the tenant (tenant.FromContext) whose ObserveTenant value is v;
	// arrived is when Middleware received the request, as a monotonic
	// reading: only durations from it (time.Since, Sub) are meaningful,
	// not its wall-clock value. It must call next.ServeHTTP exactly once.
	ServeTenant(next http.Handler, w http.ResponseWriter, req *http.Request, v any, arrived time.Time)
}
