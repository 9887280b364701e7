package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tenantwall/tenantwall/blobstore"
	"github.com/tenantwall/tenantwall/jwtclaims"
	"github.com/tenantwall/tenantwall/ratelimit"
	"github.com/tenantwall/tenantwall/session"
	"github.com/tenantwall/tenantwall/tenant"
)

// plan is what a tenant's subscription allows: request rates for the
// whole tenant and for each signed-in user, and storage for its files.
type plan struct {
	Name   string
	Limits ratelimit.Policy
	Files  blobstore.Quota
}

// plans are the server's plans by name. "unlimited" sets no limit at all.
var plans = map[string]plan{
	"free": {Name: "free",
		Limits: ratelimit.Policy{
			Tenant: ratelimit.Limit{Rate: 600, Burst: 300, Period: time.Minute},
			// Anonymous requests get a bucket of their own, so that no
			// one can spend the signed-in users' budget without signing in.
			Anonymous: ratelimit.Limit{Rate: 600, Burst: 300, Period: time.Minute},
			User:      ratelimit.Limit{Rate: 300, Burst: 150, Period: time.Minute},
		},
		Files: blobstore.Quota{Bytes: 50 << 20, Objects: 500}},
	"pro": {Name: "pro",
		Limits: ratelimit.Policy{
			Tenant: ratelimit.Limit{Rate: 6000, Burst: 1000, Period: time.Minute},
			// Anonymous requests get a bucket of their own, so that no
			// one can spend the signed-in users' budget without signing in.
			Anonymous: ratelimit.Limit{Rate: 6000, Burst: 1000, Period: time.Minute},
			User:      ratelimit.Limit{Rate: 1200, Burst: 300, Period: time.Minute},
		},
		Files: blobstore.Quota{Bytes: 5 << 30, Objects: 50_000}},
	"unlimited": {Name: "unlimited"},
}

// planBook assigns plans to tenants: by slug from -plans, else the
// -default-plan. Safe for concurrent reads; tests replace entries before
// they send requests.
type planBook struct {
	bySlug map[string]plan
	def    plan
}

// parsePlans reads -plans ("acme=pro,globex=free") and -default-plan.
func parsePlans(assign, def string) (planBook, error) {
	b := planBook{bySlug: map[string]plan{}}
	d, ok := plans[def]
	if !ok {
		return b, fmt.Errorf("-default-plan %q: no such plan (free, pro, unlimited)", def)
	}
	b.def = d
	for _, kv := range splitList(assign) {
		slug, name, found := strings.Cut(kv, "=")
		p, ok := plans[strings.TrimSpace(name)]
		if !found || !ok {
			return b, fmt.Errorf("-plans %q: want slug=plan with a plan of free, pro, unlimited", kv)
		}
		b.bySlug[strings.TrimSpace(slug)] = p
	}
	return b, nil
}

func (b planBook) of(t tenant.Tenant) plan {
	if p, ok := b.bySlug[t.Slug]; ok {
		return p
	}
	return b.def
}

// openLimits sets the request limiter: Redis with -redis (shared by every
// instance, on a client of its own — the cache's client is fenced by the
// Guard), else this process's memory. It fails open when Redis is down,
// as the cache degrades: a Redis outage must not become an outage of the
// whole CRM; each such request is logged.
func (a *app) openLimits() error {
	var store ratelimit.Store
	var err error
	if a.cfg.redis != "" {
		opt, err := redis.ParseURL(a.cfg.redis)
		if err != nil {
			return fmt.Errorf("redis: %w", err)
		}
		opt.PoolSize, opt.PoolTimeout = a.cfg.pools.redisPoolSize, a.cfg.pools.redisPoolTimeout
		c := redis.NewClient(opt)
		a.closers = append(a.closers, c.Close)
		store, err = ratelimit.NewRedisStore(c)
		if err != nil {
			return err
		}
	} else if store, err = ratelimit.NewMemoryStore(); err != nil {
		return err
	}
	a.rateKeys, _ = store.(rateKeyDeleter)
	a.limiter, err = ratelimit.New(store,
		func(_ context.Context, t tenant.Tenant) (ratelimit.Policy, error) { return a.plans.of(t).Limits, nil },
		ratelimit.WithUser(a.rateUser),
		ratelimit.WithFailOpen(true),
		ratelimit.WithLogger(a.log),
		ratelimit.WithDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			writeError(w, http.StatusTooManyRequests, "rate limit exceeded")
		})),
		ratelimit.WithErrorHandler(unavailableHandler))
	return err
}

// rateUser names the signed-in user of a request for the per-user limit:
// the subject of a valid access token, or the session's user. Anything
// else is anonymous: bounded by the tenant's limit alone. It runs before
// the limiter decides, so the token is checked with the keys this
// instance holds in memory only (a verified-token cache hit, or a
// signature check): a refused request, such as one of a flood of tokens
// with forged kids, costs no database read. A valid token whose key this
// instance has not loaded yet (its tenant's first, or first after
// keyReload) counts as anonymous on that request; authed then loads the
// key.
func (a *app) rateUser(r *http.Request) string {
	if len(r.Header.Values("Authorization")) > 0 {
		if tok, ok := bearerToken(r); ok {
			if c, err := a.tokens.Validate(heldKeysOnly(r.Context()), tok, jwtclaims.Access); err == nil {
				return "u" + c.Subject
			}
		}
		return ""
	}
	if s, ok := session.FromContext(r.Context()); ok && s.UserID != "" {
		return "u" + s.UserID
	}
	return ""
}

// fileQuota is blobstore's QuotaFunc: the storage of the tenant's plan.
func (a *app) fileQuota(ctx context.Context, id string) (blobstore.Quota, error) {
	t, ok := tenant.FromContext(ctx)
	if !ok || t.ID != id {
		// blobstore asks for the context tenant's bucket only; anything
		// else is looked up rather than guessed.
		var err error
		if t, err = a.tenants.ByID(ctx, id); err != nil {
			return blobstore.Quota{}, err
		}
	}
	return a.plans.of(t).Files, nil
}
