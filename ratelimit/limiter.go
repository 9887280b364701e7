package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/tenantwall/tenantwall/tenant"
)

// Policy is what one tenant may do: its plan's limits.
type Policy struct {
	// Tenant bounds every request of the tenant together; the zero Limit
	// means no tenant-wide bound.
	Tenant Limit
	// User bounds each user of the tenant on its own, within the tenant's
	// bound; the zero Limit means no per-user bound.
	User Limit
	// Anonymous bounds the tenant's anonymous requests (no user) together,
	// in place of Tenant: anyone can send them to the tenant's hosts, and
	// with a bound of their own they cannot spend the budget of its
	// signed-in users. The zero Limit leaves anonymous requests under
	// Tenant alone.
	Anonymous Limit
}

// PolicyFunc returns the policy of a resolved tenant — from its plan, or
// explicit values the service stores for it. An error is reported as
// ErrPolicy and the request refused (503): a tenant whose limits are
// unknown is not served unlimited.
type PolicyFunc func(ctx context.Context, t tenant.Tenant) (Policy, error)

// Limiter enforces each tenant's Policy. Keys are built from the
// resolved tenant's ID in the context (and the user's escaped ID), never
// from anything else a client sends, so one tenant's requests can never
// spend another's budget. Safe for concurrent use.
type Limiter struct {
	store  Store
	policy PolicyFunc
	options
}

// Option configures New. An invalid one makes New return an error wrapping
// ErrConfig that names it.
type Option func(*options) error

type options struct {
	failOpen bool
	user     func(*http.Request) string
	denied   http.Handler
	failed   http.Handler
	log      *slog.Logger
}

// WithFailOpen decides what happens when the Store fails (Redis
// unreachable or too slow): false (the default) refuses the request with
// 503 and Retry-After — no request goes uncounted; true serves it
// unlimited and logs the failure, so that a Redis outage does not become
// an outage of the service.
func WithFailOpen(open bool) Option {
	return func(o *options) error { o.failOpen = open; return nil }
}

// WithUser names the request's user for Policy.User: f returns the
// authenticated user's ID, or "" for an anonymous request (bounded by the
// tenant's limit only). The ID must come from a verified credential, never
// from a header or parameter the client chose.
func WithUser(f func(*http.Request) string) Option {
	return func(o *options) error {
		if f == nil {
			return fmt.Errorf("%w: WithUser(nil)", ErrConfig)
		}
		o.user = f
		return nil
	}
}

// WithDenyHandler replaces the answer to a request over its limit
// (default: 429 "too many requests"). The Retry-After and RateLimit
// headers are set before it runs.
func WithDenyHandler(h http.Handler) Option {
	return func(o *options) error {
		if h == nil {
			return fmt.Errorf("%w: WithDenyHandler(nil)", ErrConfig)
		}
		o.denied = h
		return nil
	}
}

// WithErrorHandler replaces the answer when the request could not be
// counted and the limiter fails closed, or the tenant's policy failed
// (default: 503 with Retry-After).
func WithErrorHandler(h http.Handler) Option {
	return func(o *options) error {
		if h == nil {
			return fmt.Errorf("%w: WithErrorHandler(nil)", ErrConfig)
		}
		o.failed = h
		return nil
	}
}

// WithLogger sets where store failures are logged (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return fmt.Errorf("%w: WithLogger(nil)", ErrConfig)
		}
		o.log = l
		return nil
	}
}

// New returns a Limiter deciding with store under the policies policy
// returns.
func New(store Store, policy PolicyFunc, opts ...Option) (*Limiter, error) {
	if store == nil || policy == nil {
		return nil, fmt.Errorf("%w: New needs a store and a policy function", ErrConfig)
	}
	o := options{
		denied: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "too many requests", http.StatusTooManyRequests)
		}),
		failed: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Retry-After", "1")
			http.Error(w, "service unavailable", http.StatusServiceUnavailable)
		}),
	}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if o.log == nil {
		o.log = slog.Default()
	}
	return &Limiter{store: store, policy: policy, options: o}, nil
}

// Decision is the outcome of Allow.
type Decision struct {
	// Allowed reports whether the request may be served.
	Allowed bool
	// RetryAfter is how long the client should wait when refused.
	RetryAfter time.Duration
	// Unlimited reports a request served without being counted: the
	// policy had no limit, or the store failed and the limiter fails open.
	Unlimited bool

	checks []check
}

// check is one policy's result, for the headers.
type check struct {
	name  string
	limit Limit
	res   Result
}

// Allow counts one request of the context's tenant, and of user within it
// when user is not "" and the policy bounds users. The user's limit is
// checked first, so a user over its own limit does not spend the tenant's.
// An anonymous request (user "") counts against Policy.Anonymous instead
// of the tenant's limit when the policy sets one.
//
// Without a tenant it returns tenant.ErrNoTenant; a policy failure is
// ErrPolicy; a store failure is ErrStore, unless the limiter fails open,
// in which case the Decision is Allowed and Unlimited.
func (l *Limiter) Allow(ctx context.Context, user string) (Decision, error) {
	t, ok := tenant.FromContext(ctx)
	if !ok || t.ID == "" {
		return Decision{}, tenant.ErrNoTenant
	}
	p, err := l.policy(ctx, t)
	if err != nil {
		return Decision{}, fmt.Errorf("%w: tenant %s: %w", ErrPolicy, t.ID, err)
	}
	d := Decision{Allowed: true}
	if user == "" && !p.Anonymous.IsZero() {
		key, err := anonymousKey(t.ID)
		if err != nil {
			return Decision{}, err
		}
		if err := l.count(ctx, &d, "anonymous", key, p.Anonymous); err != nil {
			return d, err
		}
		d.Unlimited = d.Unlimited || len(d.checks) == 0
		return d, nil
	}
	if user != "" && !p.User.IsZero() {
		key, err := userKey(t.ID, user)
		if err != nil {
			return Decision{}, err
		}
		if err := l.count(ctx, &d, "user", key, p.User); err != nil || !d.Allowed {
			return d, err
		}
	}
	if !p.Tenant.IsZero() {
		key, err := tenantKey(t.ID)
		if err != nil {
			return Decision{}, err
		}
		if err := l.count(ctx, &d, "tenant", key, p.Tenant); err != nil {
			return d, err
		}
	}
	d.Unlimited = d.Unlimited || len(d.checks) == 0
	return d, nil
}

func (l *Limiter) count(ctx context.Context, d *Decision, name, key string, lim Limit) error {
	res, err := l.store.AllowN(ctx, key, lim, 1)
	if err != nil {
		if errors.Is(err, ErrInvalidLimit) {
			return fmt.Errorf("%w: %s limit: %w", ErrPolicy, name, err)
		}
		if !l.failOpen {
			return err
		}
		l.log.WarnContext(ctx, "ratelimit: store failed, request not counted (fail open)", "limit", name, "err", err)
		d.Unlimited = true
		return nil
	}
	d.checks = append(d.checks, check{name: name, limit: lim, res: res})
	if !res.Allowed {
		d.Allowed, d.RetryAfter = false, res.RetryAfter
	}
	return nil
}

// Middleware counts each request with Allow, the user named by WithUser,
// and answers one over its limit with the deny handler (429) and a
// request that could not be counted with the error handler (503). Every
// counted answer carries the RateLimit and RateLimit-Policy headers, and a
// refusal Retry-After. Place it below resolve's Middleware.
func (l *Limiter) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user := ""
		if l.user != nil {
			user = l.user(r)
		}
		d, err := l.Allow(r.Context(), user)
		if err != nil {
			if errors.Is(err, ErrInvalidUser) {
				// An ID the limiter cannot key is no identity: count
				// the request against the tenant alone.
				d, err = l.Allow(r.Context(), "")
			}
			if err != nil {
				l.log.WarnContext(r.Context(), "ratelimit: request refused", "err", err)
				l.failed.ServeHTTP(w, r)
				return
			}
		}
		d.WriteHeaders(w.Header())
		if !d.Allowed {
			l.denied.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// WriteHeaders sets the headers of
// draft-ietf-httpapi-ratelimit-headers-10: RateLimit-Policy lists each
// policy that applied, with its quota q (the burst) and window w (the
// seconds the burst takes to refill, Burst·Period/Rate); RateLimit gives
// each one's remaining quota r and the seconds t until it is full again.
// A refused decision also gets Retry-After in whole seconds, at least 1.
// An Unlimited decision without checks sets nothing.
func (d Decision) WriteHeaders(h http.Header) {
	if len(d.checks) == 0 {
		return
	}
	policy := make([]byte, 0, 64)
	state := make([]byte, 0, 64)
	for i, c := range d.checks {
		if i > 0 {
			policy = append(policy, ", "...)
			state = append(state, ", "...)
		}
		window := time.Duration(c.limit.Burst) * c.limit.emission()
		policy = append(append(append(policy, '"'), c.name...), `";q=`...)
		policy = strconv.AppendInt(policy, int64(c.limit.Burst), 10)
		policy = strconv.AppendInt(append(policy, ";w="...), seconds(window), 10)
		state = append(append(append(state, '"'), c.name...), `";r=`...)
		state = strconv.AppendInt(state, int64(c.res.Remaining), 10)
		state = strconv.AppendInt(append(state, ";t="...), seconds(c.res.ResetAfter), 10)
	}
	h["Ratelimit-Policy"] = []string{string(policy)}
	h["Ratelimit"] = []string{string(state)}
	if !d.Allowed {
		h.Set("Retry-After", strconv.FormatInt(max(1, seconds(d.RetryAfter)), 10))
	}
}

// seconds rounds d up to whole seconds.
func seconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64(math.Ceil(d.Seconds()))
}
