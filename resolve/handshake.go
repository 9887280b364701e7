package resolve

import (
	"context"
	"crypto/tls"
	"fmt"
	"sync"
	"time"
)

// GetCertificate wraps the GetCertificate of a tls.Config, such as
// autocert.Manager's, so that a handshake reaches it only for a host this
// policy serves now: an active tenant host, decided like a request's
// Resolve (from the cache, else the store), or a platform host. Anything
// else — no server name, a name that is not a valid host, an unknown,
// pending, removed or suspended host — ends the handshake without a
// certificate, even one the wrapped function has cached: a removed domain
// or a suspended tenant stops being served at once in this process, and
// within the cache TTL in others. tls-alpn-01 challenge handshakes are
// held to the same rule.
//
// The server name is normalised before next sees it. A name whose answer
// is not cached costs a store lookup, and those are limited for the whole
// process by WithHandshakeRate: past it, such a handshake is refused
// without reaching the store.
func (p *CertPolicy) GetCertificate(next func(*tls.ClientHelloInfo) (*tls.Certificate, error)) func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		ctx := hello.Context()
		if ctx == nil { // a ClientHelloInfo not made by crypto/tls
			ctx = context.Background()
		}
		h, err := p.serving(ctx, hello.ServerName)
		if err != nil {
			return nil, err
		}
		if h != hello.ServerName {
			c := *hello
			c.ServerName = h
			hello = &c
		}
		return next(hello)
	}
}

// serving reports nil (and the canonical host) when host may have a
// certificate served or ordered now. It admits nothing if the policy was
// not made by Resolver.CertPolicy.
func (p *CertPolicy) serving(ctx context.Context, host string) (string, error) {
	if p.r == nil {
		return "", fmt.Errorf("%w: %w: not made by Resolver.CertPolicy", ErrHostNotAllowed, ErrConfig)
	}
	if host == "" {
		return "", fmt.Errorf("%w: no server name", ErrHostNotAllowed)
	}
	h, err := Normalize(host)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrHostNotAllowed, err)
	}
	if p.platform[h] {
		return h, nil
	}
	if e, ok := p.r.cache.get(h, p.r.clock()); ok {
		if _, err := p.r.decide(h, e); err != nil {
			return "", fmt.Errorf("%w: %w", ErrHostNotAllowed, err)
		}
		return h, nil
	}
	if !p.handshakes.take(p.now()) {
		return "", fmt.Errorf("%w: %q: more than %d uncached hosts within %v", ErrHostNotAllowed, h, p.hsLimit, p.hsWindow)
	}
	if _, err := p.r.cached(ctx, h, p.r.fromHost); err != nil {
		return "", fmt.Errorf("%w: %w", ErrHostNotAllowed, err)
	}
	return h, nil
}

// bucket is a token bucket: limit tokens, refilled evenly over window.
// The zero bucket grants nothing. Safe for concurrent use.
type bucket struct {
	limit  int
	window time.Duration

	mu      sync.Mutex
	tokens  float64
	last    time.Time
	started bool
}

func (b *bucket) take(now time.Time) bool {
	if b.limit <= 0 || b.window <= 0 {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.started {
		b.tokens, b.last, b.started = float64(b.limit), now, true
	}
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(float64(b.limit), b.tokens+float64(d)/float64(b.window)*float64(b.limit))
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
