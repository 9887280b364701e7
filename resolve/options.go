package resolve

import (
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/tenantwall/tenantwall/tenant"
)

// Strategy is one way of mapping a request to a tenant. New tries them in
// the order given to WithStrategies.
type Strategy uint8

const (
	// CustomDomain looks the whole host up as an active custom domain in
	// the store. It never applies to the base domain or names under it, so
	// a custom-domain record can never capture a tenant subdomain.
	CustomDomain Strategy = iota + 1
	// Subdomain maps exactly one label under the base domain to a slug:
	// acme.app.example.com → "acme". Deeper names, the base domain itself,
	// look-alikes and reserved slugs never match.
	Subdomain
	// Header reads a slug from a request header, and only from a trusted
	// proxy peer (WithTrustedProxies). It is for trusted internal callers
	// and is off unless WithHeader is given and it is listed. A request
	// with more than one line of the header is refused.
	Header
)

// String names the strategy.
func (s Strategy) String() string {
	switch s {
	case CustomDomain:
		return "custom-domain"
	case Subdomain:
		return "subdomain"
	case Header:
		return "header"
	}
	return fmt.Sprintf("Strategy(%d)", uint8(s))
}

// Defaults of the options.
const (
	DefaultCacheSize     = 65536
	DefaultCacheTTL      = time.Minute
	DefaultNegativeTTL   = 10 * time.Second
	DefaultLookupTimeout = 5 * time.Second
)

// Option configures a Resolver. Options write to a private options value,
// never to a live Resolver, and an invalid one makes New return an error
// wrapping ErrConfig that names it.
type Option func(*options) error

// options are what New's options set; Resolver embeds them.
type options struct {
	base, dotBase string
	strategies    []Strategy
	trusted       []netip.Prefix
	header        string

	cacheSize     int
	ttl, negTTL   time.Duration
	lookupTimeout time.Duration

	auditor                     tenant.Auditor
	observer                    Observer
	notFound, suspended, failed http.Handler
	allowEmptyOrigin            bool
	trustedOrigins              map[string]bool

	// peers is last: the hit path reads none of it, and the fields
	// before keep their places.
	peers Peers
}

// WithBaseDomain sets the platform's base domain for the Subdomain strategy,
// for example "app.example.com". It is normalised like any host. Without
// it, Subdomain never matches.
func WithBaseDomain(base string) Option {
	return func(o *options) error {
		h, err := Normalize(base)
		if err != nil {
			return fmt.Errorf("%w: WithBaseDomain(%q): %w", ErrConfig, base, err)
		}
		o.base = h
		o.dotBase = "." + h
		return nil
	}
}

// WithStrategies sets which strategies are tried, in order. The default is
// CustomDomain then Subdomain.
func WithStrategies(s ...Strategy) Option {
	return func(o *options) error {
		if len(s) == 0 {
			return fmt.Errorf("%w: WithStrategies: no strategy", ErrConfig)
		}
		seen := map[Strategy]bool{}
		for _, x := range s {
			if x < CustomDomain || x > Header || seen[x] {
				return fmt.Errorf("%w: WithStrategies: strategy %v unknown or repeated", ErrConfig, x)
			}
			seen[x] = true
		}
		o.strategies = append([]Strategy(nil), s...)
		return nil
	}
}

// WithTrustedProxies sets the CIDR prefixes (or single addresses) of the
// reverse proxies whose Forwarded host= and X-Forwarded-Host headers are
// honoured. Requests from any other peer have those headers ignored. By
// default no proxy is trusted.
func WithTrustedProxies(cidrs ...string) Option {
	return func(o *options) error {
		for _, c := range cidrs {
			p, err := netip.ParsePrefix(c)
			if err != nil {
				a, err2 := netip.ParseAddr(c)
				if err2 != nil {
					return fmt.Errorf("%w: WithTrustedProxies: %q: %w", ErrConfig, c, err)
				}
				p = netip.PrefixFrom(a, a.BitLen())
			}
			o.trusted = append(o.trusted, p.Masked())
		}
		return nil
	}
}

// WithHeader names the header the Header strategy reads a slug from, such
// as "X-Tenant". The strategy must also be listed in WithStrategies, and it
// trusts the header only from WithTrustedProxies peers.
func WithHeader(name string) Option {
	return func(o *options) error {
		if !isToken(name, "") {
			return fmt.Errorf("%w: WithHeader(%q): not a header name", ErrConfig, name)
		}
		o.header = http.CanonicalHeaderKey(name)
		return nil
	}
}

// WithCache sets the lookup cache: at most size entries (0 disables
// caching), positive answers kept for ttl, negative answers ("no tenant")
// for negTTL. Defaults: DefaultCacheSize, DefaultCacheTTL,
// DefaultNegativeTTL. A change made in the store reaches this process after
// at most ttl, or at once through the Invalidate methods (in every process
// with WithPeers).
func WithCache(size int, ttl, negTTL time.Duration) Option {
	return func(o *options) error {
		if size < 0 || ttl < 0 || negTTL < 0 {
			return fmt.Errorf("%w: WithCache(%d, %v, %v): negative setting", ErrConfig, size, ttl, negTTL)
		}
		o.cacheSize, o.ttl, o.negTTL = size, ttl, negTTL
		return nil
	}
}

// WithLookupTimeout bounds one store lookup (default DefaultLookupTimeout).
// The lookup is shared by all requests waiting for the same host, so it runs
// detached from any one request's cancellation.
func WithLookupTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("%w: WithLookupTimeout(%v): not positive", ErrConfig, d)
		}
		o.lookupTimeout = d
		return nil
	}
}

// WithAuditor sets where resolution failures, suspended tenants and
// cross-tenant origins are reported (default tenant.DefaultAuditor).
func WithAuditor(a tenant.Auditor) Option {
	return func(o *options) error {
		o.auditor = tenant.OrDefault(a)
		return nil
	}
}

// WithObserver sets who is told how each resolution used the lookup
// cache and the store (Observer), for metrics; by default nobody is. The
// cost without one is a nil check.
func WithObserver(obs Observer) Option {
	return func(o *options) error {
		if obs == nil {
			return fmt.Errorf("%w: WithObserver(nil)", ErrConfig)
		}
		o.observer = obs
		return nil
	}
}

// WithNotFoundHandler replaces the response to a request whose host maps to
// no tenant (default: 404 "404 page not found", the same for every such
// host, so the body never tells whether a tenant exists). ErrorFromContext
// gives the reason.
func WithNotFoundHandler(h http.Handler) Option {
	return func(o *options) error {
		if h == nil {
			return fmt.Errorf("%w: WithNotFoundHandler(nil)", ErrConfig)
		}
		o.notFound = h
		return nil
	}
}

// WithSuspendedHandler replaces the response to a request for a suspended
// tenant (default: 403 "tenant suspended"). The tenant is in the request
// context so the handler can name it; it is never passed to the next
// handler.
func WithSuspendedHandler(h http.Handler) Option {
	return func(o *options) error {
		if h == nil {
			return fmt.Errorf("%w: WithSuspendedHandler(nil)", ErrConfig)
		}
		o.suspended = h
		return nil
	}
}

// WithErrorHandler replaces the response when the store fails (default:
// 503 with Retry-After). No default tenant is ever substituted.
func WithErrorHandler(h http.Handler) Option {
	return func(o *options) error {
		if h == nil {
			return fmt.Errorf("%w: WithErrorHandler(nil)", ErrConfig)
		}
		o.failed = h
		return nil
	}
}

// WithEmptyOrigin makes CheckOrigin accept a request without an Origin
// header (non-browser clients). By default it is refused.
func WithEmptyOrigin(allow bool) Option {
	return func(o *options) error { o.allowEmptyOrigin = allow; return nil }
}

// WithTrustedOrigins makes CheckOrigin accept Origins on these hosts for
// every tenant, such as the platform's own console. Hosts are normalised.
func WithTrustedOrigins(hosts ...string) Option {
	return func(o *options) error {
		for _, h := range hosts {
			n, err := Normalize(h)
			if err != nil {
				return fmt.Errorf("%w: WithTrustedOrigins: %w", ErrConfig, err)
			}
			o.trustedOrigins[n] = true
		}
		return nil
	}
}
