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
	r *Resolver
	certOptions
	now func() time.Time

	mu     sync.Mutex
	counts map[string][]time.Time // registered domain → admission times
}

// CertPolicyOption configures the CertPolicy that Resolver.CertPolicy
// returns. An invalid one makes it return an error wrapping ErrConfig that
// names the option.
type CertPolicyOption func(*certOptions) error

// certOptions are what Resolver.CertPolicy's options set; CertPolicy
// embeds them.
type certOptions struct {
	limit  int
	window time.Duration
}

// WithCertRate sets how many admissions one registered domain may trigger
// per window (default 10 per hour). Both must be positive: anything else
// is an error, never a policy without limit.
func WithCertRate(n int, window time.Duration) CertPolicyOption {
	return func(o *certOptions) error {
		if n <= 0 || window <= 0 {
			return fmt.Errorf("%w: WithCertRate(%d, %v): both must be positive", ErrConfig, n, window)
		}
		o.limit, o.window = n, window
		return nil
	}
}

// CertPolicy returns the certificate policy of this resolver's tenants.
func (r *Resolver) CertPolicy(opts ...CertPolicyOption) (*CertPolicy, error) {
	o := certOptions{limit: 10, window: time.Hour}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	return &CertPolicy{r: r, certOptions: o, now: time.Now, counts: map[string][]time.Time{}}, nil
}

// Allow reports nil if host may get a certificate now.
func (p *CertPolicy) Allow(ctx context.Context, host string) error {
	if p.r == nil || p.limit <= 0 || p.window <= 0 {
		// Only a CertPolicy not made by Resolver.CertPolicy gets here:
		// refuse rather than admit without limit.
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
