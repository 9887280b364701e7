package resolve

import (
	"context"
	"errors"
	"fmt"

	"github.com/tenantwall/tenantwall/tenant"
)

// Explanation says how a host resolves and why: the source plan's "test
// tenant resolution" step as a helper.
type Explanation struct {
	Input      string         // the host as given
	Normalized string         // Normalize's result, empty if it failed
	Strategy   string         // "custom-domain", "subdomain" or ""
	Tenant     *tenant.Tenant // the tenant it resolves to, if any
	Domain     *tenant.Domain // the custom-domain record, if any
	Err        error          // what Resolve would return
	Reason     string         // why, in words
}

// String is the explanation in one line.
func (e Explanation) String() string {
	s := fmt.Sprintf("host %q", e.Input)
	if e.Normalized != "" && e.Normalized != e.Input {
		s += fmt.Sprintf(" (normalised %q)", e.Normalized)
	}
	if e.Tenant != nil {
		s += fmt.Sprintf(" → tenant %s (%s, %s) by %s", e.Tenant.Slug, e.Tenant.ID, e.Tenant.Status, e.Strategy)
	} else {
		s += " → no tenant"
	}
	return s + ": " + e.Reason
}

// Explain resolves host against the store (bypassing the cache) and says
// why it maps where it does.
func (r *Resolver) Explain(ctx context.Context, host string) Explanation {
	e := Explanation{Input: host}
	h, err := Normalize(host)
	if err != nil {
		e.Err, e.Reason = err, "the host is not a valid DNS name"
		return e
	}
	e.Normalized = h
	underBase := r.underBase(h)
	if _, d, err := r.store.ByDomain(ctx, h); err == nil {
		dd := d
		e.Domain = &dd
	} else if !errors.Is(err, tenant.ErrNotFound) {
		e.Err, e.Reason = err, "the tenant store failed"
		return e
	}
	t, err := r.fromHost(ctx, h)
	if err == nil {
		_, e.Err = r.answer(h, t) // unknown or suspended, as Resolve says
	}
	switch {
	case err != nil:
		e.Err, e.Reason = err, "the tenant store failed"
	case t != nil:
		e.Tenant = t
		if e.Domain != nil && e.Domain.Status == tenant.DomainActive && !underBase {
			e.Strategy, e.Reason = CustomDomain.String(), "an active custom domain of the tenant"
		} else {
			e.Strategy, e.Reason = Subdomain.String(), "one label under the base domain "+r.base+" names the tenant's slug"
		}
		if !t.Active() {
			e.Reason += "; the tenant is suspended"
		}
	case e.Domain != nil && underBase:
		e.Reason = "a custom-domain record under the base domain is ignored"
	case e.Domain != nil:
		e.Reason = "the custom domain is " + string(e.Domain.Status) + ", only active domains serve"
	case h == r.base:
		e.Reason = "the base domain itself is the platform's, not a tenant's"
	case underBase:
		e.Reason = "under the base domain, but not exactly one label naming an existing, unreserved tenant"
	default:
		e.Reason = "no custom domain and not under the base domain " + r.base
	}
	return e
}
