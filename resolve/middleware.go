package resolve

import (
	"context"
	"errors"
	"net/http"

	"github.com/tenantwall/tenantwall/tenant"
)

type errKey struct{}

// ErrorFromContext returns why the middleware refused a request; it is set
// in the request context given to the not-found, suspended and error
// handlers.
func ErrorFromContext(ctx context.Context) error {
	err, _ := ctx.Value(errKey{}).(error)
	return err
}

// Middleware resolves every request to a tenant and serves it with the
// tenant in its context (tenant.FromContext). The tenant is decided per
// request, never per connection: one HTTP/1.1 keep-alive or HTTP/2
// connection may carry requests for several hosts.
//
// A host that maps to no tenant gets the not-found handler (404, the same
// body for every such host), a suspended tenant the suspended handler (403),
// and a store failure the error handler (503); each is reported to the
// Auditor. No request is ever passed on without a tenant.
func (r *Resolver) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		t, err := r.resolveRequest(req)
		if err != nil {
			r.refuse(w, req, t, err)
			return
		}
		// The cache never mutates t, so the context may share it.
		next.ServeHTTP(w, req.WithContext(tenant.NewSharedContext(req.Context(), t)))
	})
}

func (r *Resolver) refuse(w http.ResponseWriter, req *http.Request, t *tenant.Tenant, err error) {
	ctx := context.WithValue(req.Context(), errKey{}, err)
	ev := tenant.Event{Package: "resolve", Resource: "host " + truncate(req.Host, 260), Err: err}
	h := r.notFound
	switch {
	case errors.Is(err, ErrSuspended) && t != nil:
		ev.Kind, ev.TenantID = tenant.EventSuspended, t.ID
		ctx = tenant.NewContext(ctx, *t)
		h = r.suspended
	case errors.Is(err, ErrLookup):
		ev.Kind = tenant.EventLookupFailure
		h = r.failed
	default:
		ev.Kind = tenant.EventUnknownHost
	}
	r.auditor.Audit(ctx, ev)
	h.ServeHTTP(w, req.WithContext(ctx))
}

func suspendedResponse(w http.ResponseWriter, _ *http.Request) {
	http.Error(w, "tenant suspended", http.StatusForbidden)
}

func unavailableResponse(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Retry-After", "5")
	http.Error(w, "service unavailable", http.StatusServiceUnavailable)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
