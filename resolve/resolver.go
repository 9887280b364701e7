package resolve

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/tenantwall/tenantwall/tenant"
)

type headerMode uint8

const (
	headerOff   headerMode = iota
	headerFirst            // Header is tried before the host strategies
	headerLast             // after them, when the host maps to no tenant
)

// Resolver maps requests to tenants. It is safe for concurrent use; create
// one per process with New and share it.
type Resolver struct {
	store tenant.Lookup
	options
	headerMode     headerMode
	hostStrategies bool

	cache  *cache
	flight singleflight.Group
	// epoch is a reading of the monotonic clock taken by New; the cache
	// counts time from it. Wall-clock time would let a clock step (NTP, an
	// operator) stretch or cut every TTL.
	epoch time.Time
	now   func() int64 // replaces the clock in tests; nil otherwise
}

// New returns a Resolver over store. Without options it tries custom
// domains only; add WithBaseDomain for tenant subdomains.
func New(store tenant.Lookup, opts ...Option) (*Resolver, error) {
	if store == nil {
		return nil, fmt.Errorf("%w: nil store", ErrConfig)
	}
	o := options{
		strategies:     []Strategy{CustomDomain, Subdomain},
		cacheSize:      DefaultCacheSize,
		ttl:            DefaultCacheTTL,
		negTTL:         DefaultNegativeTTL,
		lookupTimeout:  DefaultLookupTimeout,
		auditor:        tenant.DefaultAuditor,
		notFound:       http.HandlerFunc(http.NotFound),
		suspended:      http.HandlerFunc(suspendedResponse),
		failed:         http.HandlerFunc(unavailableResponse),
		trustedOrigins: map[string]bool{},
	}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	r := &Resolver{store: store, options: o, epoch: time.Now()}
	for i, s := range r.strategies {
		if s != Header {
			r.hostStrategies = true
			continue
		}
		r.headerMode = headerLast
		if i == 0 {
			r.headerMode = headerFirst
		}
		if r.header == "" {
			return nil, fmt.Errorf("%w: the header strategy needs WithHeader", ErrConfig)
		}
		if len(r.trusted) == 0 {
			return nil, fmt.Errorf("%w: the header strategy needs WithTrustedProxies", ErrConfig)
		}
	}
	r.cache = newCache(r.cacheSize)
	if r.peers != nil {
		r.peers.Listen(r.fromPeer, r.cache.clear)
	}
	return r, nil
}

// Resolve maps a host, as a client sent it, to a tenant. It returns
// ErrInvalidHost or ErrIPLiteral for a malformed host, ErrUnknownHost when
// no tenant has it, ErrSuspended (with the tenant) for a suspended tenant,
// and ErrLookup when the store failed.
func (r *Resolver) Resolve(ctx context.Context, host string) (tenant.Tenant, error) {
	t, err := r.resolveHost(ctx, host)
	if t == nil {
		return tenant.Tenant{}, err
	}
	return *t, err
}

// ResolveRequest maps a request to a tenant with the configured strategies:
// the Header strategy for trusted peers, then the request's host — its Host
// header, or the forwarded host when the peer is a trusted proxy. Errors are
// those of Resolve.
func (r *Resolver) ResolveRequest(req *http.Request) (tenant.Tenant, error) {
	t, err := r.resolveRequest(req)
	if t == nil {
		return tenant.Tenant{}, err
	}
	return *t, err
}

// Host returns the host the request is addressed to, normalised: the
// forwarded host when the peer is a trusted proxy that sent one, else
// r.Host.
//
// Forwarding headers from a trusted proxy that cannot be read, or whose
// Forwarded host= and X-Forwarded-Host disagree, give ErrInvalidHost: the
// request is refused, never resolved from the next source.
func (r *Resolver) Host(req *http.Request) (string, error) {
	raw, err := r.rawHost(req)
	if err != nil {
		return "", err
	}
	return Normalize(raw)
}

func (r *Resolver) rawHost(req *http.Request) (string, error) {
	if len(r.trusted) > 0 && r.trustedPeer(req) {
		h, ok, err := forwardedHost(req.Header)
		if err != nil || ok {
			return h, err
		}
	}
	return req.Host, nil
}

func (r *Resolver) resolveRequest(req *http.Request) (*tenant.Tenant, error) {
	if r.headerMode == headerOff {
		raw, err := r.rawHost(req)
		if err != nil {
			return nil, err
		}
		return r.resolveHost(req.Context(), raw)
	}
	if r.headerMode == headerFirst {
		if slug, ok, err := r.headerSlug(req); err != nil || ok {
			if err != nil {
				return nil, err
			}
			return r.resolveSlug(req.Context(), slug)
		}
	}
	if !r.hostStrategies {
		return nil, fmt.Errorf("%w: no %s header from a trusted peer", ErrUnknownHost, r.header)
	}
	raw, err := r.rawHost(req)
	if err != nil {
		return nil, err
	}
	t, err := r.resolveHost(req.Context(), raw)
	if r.headerMode == headerLast && t == nil && !errors.Is(err, ErrLookup) {
		if slug, ok, herr := r.headerSlug(req); herr != nil || ok {
			if herr != nil {
				return nil, herr
			}
			return r.resolveSlug(req.Context(), slug)
		}
	}
	return t, err
}

// headerSlug returns the Header strategy's slug when a trusted peer sent
// exactly one non-empty header line. Several lines are refused: a proxy
// that adds its own but passes the client's through leaves both, and the
// client's would come first.
func (r *Resolver) headerSlug(req *http.Request) (string, bool, error) {
	vs := req.Header.Values(r.header)
	if len(vs) == 0 || !r.trustedPeer(req) {
		return "", false, nil
	}
	if len(vs) > 1 {
		return "", false, fmt.Errorf("%w: %d %s headers", ErrUnknownHost, len(vs), r.header)
	}
	return vs[0], vs[0] != "", nil
}

func (r *Resolver) resolveHost(ctx context.Context, raw string) (*tenant.Tenant, error) {
	// The hit path looks the host up as sent (less a valid port) before
	// normalising it. This is sound because every host key in the cache is
	// an output of Normalize, Normalize is idempotent, and it treats
	// "key:port" exactly as "key": a raw host that equals a key
	// normalises to that very key. Any other spelling (upper case, a
	// trailing dot, Unicode, garbage) matches no key and is normalised
	// below as before. Header keys start with '#' and never belong to a
	// host, so a Host of "#slug" must not reach them.
	if len(raw) <= maxRawHost {
		h, err := stripPort(raw)
		if err != nil {
			return nil, err
		}
		if h != "" && h[0] != '#' {
			if e, ok := r.cache.get(h, r.clock()); ok {
				if r.observer != nil {
					r.observer.ResolveCache(ctx, true)
				}
				return r.decide(h, e)
			}
		}
	}
	h, err := Normalize(raw)
	if err != nil {
		return nil, err
	}
	return r.cached(ctx, h, r.fromHost)
}

func (r *Resolver) resolveSlug(ctx context.Context, slug string) (*tenant.Tenant, error) {
	if err := tenant.ValidateSlug(slug); err != nil {
		return nil, fmt.Errorf("%w: header %s: %w", ErrUnknownHost, r.header, err)
	}
	// '#' never occurs in a host, so header keys cannot meet host keys.
	return r.cached(ctx, "#"+slug, func(ctx context.Context, key string) (*tenant.Tenant, error) {
		return r.bySlug(ctx, key[1:])
	})
}

// cached answers key from the cache, or runs lookup once for all concurrent
// callers of the same key and caches its answer.
func (r *Resolver) cached(ctx context.Context, key string, lookup func(context.Context, string) (*tenant.Tenant, error)) (*tenant.Tenant, error) {
	if e, ok := r.cache.get(key, r.clock()); ok {
		if r.observer != nil {
			r.observer.ResolveCache(ctx, true)
		}
		return r.decide(key, e)
	}
	if r.observer != nil {
		r.observer.ResolveCache(ctx, false)
	}
	// The flight is keyed by the invalidation generation as well: a lookup
	// that began before an invalidation read the store as it was then, so
	// a caller arriving after it (say, after a suspension) must start its
	// own rather than be handed that answer.
	gen := r.cache.generation()
	ch := r.flight.DoChan(strconv.FormatUint(gen, 36)+"\x00"+key, func() (any, error) {
		// A caller that missed just before the previous flight filled
		// the cache must not cause a second lookup.
		if e, ok := r.cache.get(key, r.clock()); ok {
			return e.t, nil
		}
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.lookupTimeout)
		defer cancel()
		t, err := lookup(lctx, key)
		if r.observer != nil {
			r.observer.ResolveLookup(ctx, err)
		}
		if err != nil {
			return nil, err
		}
		now := r.clock()
		if t == nil {
			r.cache.put(key, entry{expires: expiry(now, r.negTTL)}, gen)
		} else {
			r.cache.put(key, entry{t: t, expires: expiry(now, r.ttl), serve: t.Active()}, gen)
		}
		return t, nil
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return r.answer(key, res.Val.(*tenant.Tenant))
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", ErrLookup, ctx.Err())
	}
}

// clock returns the cache's time: monotonic nanoseconds since New.
func (r *Resolver) clock() int64 {
	if r.now != nil {
		return r.now()
	}
	return int64(time.Since(r.epoch))
}

// decide answers from a cache entry. The decision to serve was taken once,
// when the entry was stored (the tenant is immutable there), so a hit on
// an active tenant costs one branch; anything else is refused by answer.
func (r *Resolver) decide(key string, e entry) (*tenant.Tenant, error) {
	if e.serve {
		return e.t, nil
	}
	return r.answer(key, e.t)
}

func (r *Resolver) answer(key string, t *tenant.Tenant) (*tenant.Tenant, error) {
	switch {
	case t == nil:
		return nil, fmt.Errorf("%w %q", ErrUnknownHost, key)
	case !t.Active():
		return t, fmt.Errorf("%w: %s", ErrSuspended, t.Slug)
	}
	return t, nil
}

// fromHost runs the host strategies against the store. It returns nil, nil
// when no strategy matches.
func (r *Resolver) fromHost(ctx context.Context, h string) (*tenant.Tenant, error) {
	underBase := r.underBase(h)
	for _, s := range r.strategies {
		switch s {
		case CustomDomain:
			if underBase {
				continue
			}
			t, d, err := r.store.ByDomain(ctx, h)
			if errors.Is(err, tenant.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("%w: domain %q: %w", ErrLookup, h, err)
			}
			if d.Status == tenant.DomainActive && d.TenantID == t.ID && t.ID != "" {
				return &t, nil
			}
		case Subdomain:
			if !underBase || h == r.base {
				continue
			}
			slug := h[:len(h)-len(r.dotBase)]
			if strings.IndexByte(slug, '.') >= 0 || tenant.ValidateSlug(slug) != nil {
				continue
			}
			t, err := r.bySlug(ctx, slug)
			if t != nil || err != nil {
				return t, err
			}
		}
	}
	return nil, nil
}

// underBase reports whether h is the base domain or a name under it,
// where custom-domain records never apply.
func (r *Resolver) underBase(h string) bool {
	return r.base != "" && (h == r.base || strings.HasSuffix(h, r.dotBase))
}

func (r *Resolver) bySlug(ctx context.Context, slug string) (*tenant.Tenant, error) {
	t, err := r.store.BySlug(ctx, slug)
	if errors.Is(err, tenant.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: slug %q: %w", ErrLookup, slug, err)
	}
	if t.Slug != slug || t.ID == "" {
		return nil, fmt.Errorf("%w: store answered slug %q with tenant %q", ErrLookup, slug, t.Slug)
	}
	return &t, nil
}

// InvalidateHost drops the cached answer for a host, such as a custom
// domain that was just added, activated or removed. With WithPeers it is
// then published to the other processes; the error (wrapping ErrPeers)
// says it could not be, and is nil otherwise. The local change is made
// whatever the error.
func (r *Resolver) InvalidateHost(host string) error {
	h, err := Normalize(host)
	if err != nil {
		return err
	}
	return r.invalidate(invalidation{kind: 'h', arg: h})
}

// InvalidateTenant drops every cached answer naming the tenant (after a
// suspension, a slug change or a deletion) and every negative answer (so a
// new slug or domain is seen at once), here and, with WithPeers, in every
// process. Errors are those of InvalidateHost, and tenant.ErrInvalidID
// for a malformed ID (then nothing is dropped).
func (r *Resolver) InvalidateTenant(id string) error {
	if err := tenant.ValidateID(id); err != nil {
		return err
	}
	return r.invalidate(invalidation{kind: 't', arg: id})
}

// InvalidateAll empties the cache, here and, with WithPeers, in every
// process. Errors are those of InvalidateHost.
func (r *Resolver) InvalidateAll() error { return r.invalidate(invalidation{kind: '*'}) }
