package resolve

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"golang.org/x/crypto/acme/autocert"
	"golang.org/x/net/publicsuffix"

	"github.com/tenantwall/tenantwall/tenant"
)

// ErrHostNotAllowed reports a host the certificate policy refuses.
var ErrHostNotAllowed = errors.New("resolve: no certificate for this host")

// CertPolicy decides which hosts may get a TLS certificate on demand:
// active custom domains and subdomains of active tenants, exactly, after
// Normalize; everything else, and any store error, is refused. Each
// registered domain (eTLD+1) may trigger at most a bounded number of
// admissions per window, so one customer cannot make the platform request
// certificates without end. It is safe for concurrent use.
type CertPolicy struct {
	r      *Resolver
	limit  int
	window time.Duration
	now    func() time.Time

	mu     sync.Mutex
	counts map[string][]time.Time // registered domain → admission times
}

// CertPolicyOption configures a CertPolicy.
type CertPolicyOption func(*CertPolicy)

// WithCertRate sets how many admissions one registered domain may trigger
// per window (default 10 per hour).
func WithCertRate(n int, window time.Duration) CertPolicyOption {
	return func(p *CertPolicy) { p.limit, p.window = n, window }
}

// CertPolicy returns the certificate policy of this resolver's tenants.
func (r *Resolver) CertPolicy(opts ...CertPolicyOption) *CertPolicy {
	p := &CertPolicy{r: r, limit: 10, window: time.Hour, now: time.Now, counts: map[string][]time.Time{}}
	for _, o := range opts {
		o(p)
	}
	return p
}

// Allow reports nil if host may get a certificate now.
func (p *CertPolicy) Allow(ctx context.Context, host string) error {
	h, err := Normalize(host)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrHostNotAllowed, err)
	}
	if h != host {
		// Exact match only: autocert hands us the SNI name as sent.
		return fmt.Errorf("%w: %q is not in canonical form (%q)", ErrHostNotAllowed, host, h)
	}
	// Decide from the store, not the cache: a certificate outlives a
	// cache entry, and this path is rare.
	t, err := p.r.fromHost(ctx, h)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrHostNotAllowed, err)
	}
	if t == nil || !t.Active() {
		return fmt.Errorf("%w: %q is not an active tenant host", ErrHostNotAllowed, h)
	}
	reg, err := publicsuffix.EffectiveTLDPlusOne(h)
	if err != nil || p.r.underBase(h) {
		reg = h // tenant subdomains are counted one by one
	}
	return p.admit(reg)
}

func (p *CertPolicy) admit(key string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	kept := p.counts[key][:0]
	for _, at := range p.counts[key] {
		if now.Sub(at) < p.window {
			kept = append(kept, at)
		}
	}
	if len(kept) >= p.limit {
		p.counts[key] = kept
		return fmt.Errorf("%w: %s asked for %d certificates within %v", ErrHostNotAllowed, key, len(kept), p.window)
	}
	p.counts[key] = append(kept, now)
	return nil
}

// HostPolicy returns the policy for golang.org/x/crypto/acme/autocert.
func (p *CertPolicy) HostPolicy() autocert.HostPolicy { return p.Allow }

// AskHandler answers Caddy's on-demand TLS "ask" endpoint: 200 when the
// host in the domain query parameter may get a certificate, 403
// otherwise.
func (p *CertPolicy) AskHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := p.Allow(r.Context(), r.URL.Query().Get("domain")); err != nil {
			http.Error(w, "no", http.StatusForbidden)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
}

// Explanation says how a host resolves and why: the source plan's "test
// tenant resolution" step as a helper.
type Explanation struct {
	Input      string
	Normalized string
	Strategy   string // "custom-domain", "subdomain" or ""
	Tenant     *tenant.Tenant
	Domain     *tenant.Domain // the custom-domain record, if any
	Err        error
	Reason     string
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
