package resolve

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"golang.org/x/crypto/acme/autocert"
	"golang.org/x/net/publicsuffix"
)

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
// per window (default 10 per hour). Both must be positive: a policy given
// anything else admits no host at all (the error wraps ErrConfig), rather
// than admitting without limit.
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
	if p.limit <= 0 || p.window <= 0 {
		return fmt.Errorf("%w: %w: certificate rate %d per %v", ErrHostNotAllowed, ErrConfig, p.limit, p.window)
	}
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
