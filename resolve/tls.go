package resolve

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"golang.org/x/crypto/acme/autocert"
	"golang.org/x/net/publicsuffix"

	"github.com/tenantwall/tenantwall/tenant"
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

	handshakes bucket // store lookups on the handshake path
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

	lookupTimeout time.Duration
	platform      map[string]bool
	hsLimit       int
	hsWindow      time.Duration
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

// WithCertLookupTimeout bounds the store lookup of Allow (default
// DefaultCertLookupTimeout). Past it, or when the store fails, Allow
// decides from this resolver's cached answer for the host if it holds a
// live one, and refuses otherwise: Allow runs on a TLS handshake (Caddy's
// ask endpoint, autocert's host policy), which must be answered within
// the client's own timeout even when the database is slow.
func WithCertLookupTimeout(d time.Duration) CertPolicyOption {
	return func(o *certOptions) error {
		if d <= 0 {
			return fmt.Errorf("%w: WithCertLookupTimeout(%v): not positive", ErrConfig, d)
		}
		o.lookupTimeout = d
		return nil
	}
}

// WithPlatformHosts admits these hosts besides the tenants' own, such as
// the platform's operator host: the platform's names, which no tenant
// record can claim. Hosts are normalised; an invalid one is an error.
// They are subject to the rate of WithCertRate like any other.
func WithPlatformHosts(hosts ...string) CertPolicyOption {
	return func(o *certOptions) error {
		for _, h := range hosts {
			n, err := Normalize(h)
			if err != nil {
				return fmt.Errorf("%w: WithPlatformHosts: %w", ErrConfig, err)
			}
			o.platform[n] = true
		}
		return nil
	}
}

// WithHandshakeRate sets how many store lookups the handshake path
// (GetCertificate, HostPolicy, OrderGuard, Allow and AskHandler) may make
// per window, for the whole process (default DefaultHandshakeRate per
// second, with a full budget to start). A host whose answer is cached
// costs none (Allow reads the store while the budget lasts, then decides
// from the cached answer as when the store fails), so a storm
// of handshakes for made-up names is refused without reaching the store
// once the budget is spent, while every host already known keeps its
// certificate. A host's answer is cached for the resolver's TTL
// (WithCache), so allow at least the number of hosts served divided by
// that TTL. Both must be positive.
func WithHandshakeRate(n int, window time.Duration) CertPolicyOption {
	return func(o *certOptions) error {
		if n <= 0 || window <= 0 {
			return fmt.Errorf("%w: WithHandshakeRate(%d, %v): both must be positive", ErrConfig, n, window)
		}
		o.hsLimit, o.hsWindow = n, window
		return nil
	}
}

// Defaults of the certificate policy's options.
const (
	DefaultCertLookupTimeout = 2 * time.Second
	DefaultHandshakeRate     = 200
)

// CertPolicy returns the certificate policy of this resolver's tenants.
func (r *Resolver) CertPolicy(opts ...CertPolicyOption) (*CertPolicy, error) {
	o := certOptions{limit: 10, window: time.Hour, lookupTimeout: DefaultCertLookupTimeout,
		platform: map[string]bool{}, hsLimit: DefaultHandshakeRate, hsWindow: time.Second}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	p := &CertPolicy{r: r, certOptions: o, now: time.Now, counts: map[string][]time.Time{}}
	p.handshakes = bucket{limit: o.hsLimit, window: o.hsWindow}
	return p, nil
}

// Allow reports nil if host may get a certificate now: host is in
// canonical form (Normalize) and is an active tenant host according to
// the store, or a platform host (WithPlatformHosts), and its registered
// domain is within WithCertRate. When the store fails or does not answer
// within WithCertLookupTimeout, a live cached answer of the resolver
// decides; without one, Allow refuses. Store lookups are limited by
// WithHandshakeRate like those of GetCertificate: past it, Allow decides
// as when the store fails.
func (p *CertPolicy) Allow(ctx context.Context, host string) error {
	if p.r == nil || p.limit <= 0 || p.window <= 0 || p.lookupTimeout <= 0 {
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
	if p.platform[h] {
		return p.admit(p.budget(h))
	}
	// Decide from the store, not the cache: a certificate outlives a
	// cache entry, and this path is rare. But it is on a handshake: when
	// the store is slow or down, a live cached answer (at most the cache
	// TTL old, and dropped by every Invalidate of this process) decides.
	// The ask endpoint is on the handshake path too (a proxy asks for
	// every name it has no certificate for): uncached names spend the
	// handshake budget, and past it only a live cached answer decides.
	var t *tenant.Tenant
	err = fmt.Errorf("%w: %q: more than %d uncached hosts within %v", ErrLookup, h, p.hsLimit, p.hsWindow)
	if p.handshakes.take(p.now()) {
		t, err = p.lookup(ctx, h)
	}
	if err != nil {
		e, ok := p.r.cache.get(h, p.r.clock())
		if !ok {
			return fmt.Errorf("%w: %w", ErrHostNotAllowed, err)
		}
		t = e.t
	}
	if t == nil || !t.Active() {
		return fmt.Errorf("%w: %q is not an active tenant host", ErrHostNotAllowed, h)
	}
	return p.admit(p.budget(h))
}

// budget is the key whose admissions WithCertRate counts for h: its
// registered domain (eTLD+1), or h itself for a name under the base
// domain or a platform host.
func (p *CertPolicy) budget(h string) string {
	reg, err := publicsuffix.EffectiveTLDPlusOne(h)
	if err != nil || p.r.underBase(h) || p.platform[h] {
		return h // tenant subdomains are counted one by one
	}
	return reg
}

// lookup runs the host strategies against the store for at most the
// lookup timeout, whether or not the store honours its context; one
// lookup per host runs at a time, shared by concurrent callers — those
// of the same invalidation generation only, so that a caller arriving
// after an invalidation (a suspension) is not handed an older answer.
func (p *CertPolicy) lookup(ctx context.Context, h string) (*tenant.Tenant, error) {
	ctx, cancel := context.WithTimeout(ctx, p.lookupTimeout)
	defer cancel()
	gen := strconv.FormatUint(p.r.cache.generation(), 36)
	ch := p.r.flight.DoChan("cert\x00"+gen+"\x00"+h, func() (any, error) {
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.lookupTimeout)
		defer cancel()
		return p.r.fromHost(lctx, h)
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(*tenant.Tenant), nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %q: %w", ErrLookup, h, ctx.Err())
	}
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

// HostPolicy returns the policy for golang.org/x/crypto/acme/autocert's
// Manager. autocert calls it on every handshake, not only before an
// order, so it decides as GetCertificate does — from the resolver's cache,
// else the store within the handshake budget — and counts nothing:
// WithCertRate is enforced by OrderGuard, on the orders actually sent.
// Use both.
func (p *CertPolicy) HostPolicy() autocert.HostPolicy {
	return func(ctx context.Context, host string) error {
		h, err := p.serving(ctx, host)
		if err == nil && h != host {
			err = fmt.Errorf("%w: %q is not in canonical form (%q)", ErrHostNotAllowed, host, h)
		}
		return err
	}
}

// AskHandler answers Caddy's on-demand TLS "ask" endpoint: 200 when the
// host in the domain query parameter may get a certificate (Allow), 403
// otherwise. Caddy sends GET ?domain=name and takes any 2xx for yes; any
// other method is answered 405 and a query without exactly one domain
// 400, never a redirect. The answer comes within WithCertLookupTimeout
// even when the store is slow (see Allow). Serve it where only the proxy
// can reach it: every yes spends the host's admission budget.
func (p *CertPolicy) AskHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil || len(q["domain"]) != 1 {
			http.Error(w, "want exactly one domain parameter", http.StatusBadRequest)
			return
		}
		if err := p.Allow(r.Context(), q.Get("domain")); err != nil {
			http.Error(w, "no", http.StatusForbidden)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
}
