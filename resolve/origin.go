package resolve

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/tenantwall/tenantwall/tenant"
)

// CheckOrigin accepts a request — typically a WebSocket upgrade — only when
// its Origin header resolves to the same tenant as the request itself (the
// tenant in its context, else its host). An empty Origin is refused unless
// WithEmptyOrigin(true); "null", non-http(s) and malformed Origins are
// refused; Origins on WithTrustedOrigins hosts are accepted for every
// tenant. A foreign tenant's Origin is reported to the Auditor as a
// cross-tenant attempt. Refusals wrap ErrOrigin.
//
// Run it before accepting the upgrade (for github.com/coder/websocket, and
// then leave its own Origin check on or set OriginPatterns to the host).
func (r *Resolver) CheckOrigin(req *http.Request) error {
	want, ok := tenant.FromContext(req.Context())
	if !ok {
		t, err := r.resolveRequest(req)
		if err != nil {
			return fmt.Errorf("%w: request host: %w", ErrOrigin, err)
		}
		want = *t
	}
	origin := req.Header.Get("Origin")
	if origin == "" {
		if r.allowEmptyOrigin {
			return nil
		}
		return fmt.Errorf("%w: no Origin header", ErrOrigin)
	}
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
		u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%w: malformed Origin %.100q", ErrOrigin, origin)
	}
	host, err := Normalize(u.Host)
	if err != nil {
		return fmt.Errorf("%w: Origin %.100q: %w", ErrOrigin, origin, err)
	}
	if r.trustedOrigins[host] {
		return nil
	}
	got, err := r.cached(req.Context(), host, r.fromHost)
	if err != nil && got == nil {
		return fmt.Errorf("%w: Origin %q: %w", ErrOrigin, host, err)
	}
	if got.ID != want.ID {
		r.auditor.Audit(req.Context(), tenant.Event{Kind: tenant.EventCrossTenant, Package: "resolve",
			TenantID: want.ID, OwnerID: got.ID, Resource: "origin " + host})
		return fmt.Errorf("%w: Origin %q belongs to another tenant", ErrOrigin, host)
	}
	return nil
}
