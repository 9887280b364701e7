// Package ratelimit limits each tenant's request rate, and each user's
// within it, with the generic cell rate algorithm (GCRA): in Redis for
// services with several instances, in memory for the embedded mode, with
// the same decisions (ratelimittest.RunStoreTests checks both).
//
//	store, _ := ratelimit.NewRedisStore(rdb)       // or ratelimit.NewMemoryStore()
//	lim, _ := ratelimit.New(store, func(ctx context.Context, t tenant.Tenant) (ratelimit.Policy, error) {
//		return plans[planOf(t)], nil                 // the tenant's plan, or its own values
//	}, ratelimit.WithUser(authenticatedUserID))
//	handler := res.Middleware(lim.Middleware(app))  // below resolve
//
// # Why GCRA, and why redis_rate
//
// GCRA keeps one timestamp per key (the theoretical arrival time) and
// decides in O(1): no window boundary at which a client may send twice its
// rate, no list of past requests. The Redis store uses
// github.com/go-redis/redis_rate (v10): it is maintained by the go-redis
// authors, runs the decision as one Lua script (atomic, one round trip,
// timed by the Redis server's clock so every instance agrees) that reads
// and writes a single key, which makes it safe on Redis Cluster, and lets
// keys expire once they hold no information. MemoryStore implements the
// same arithmetic in integer nanoseconds on the monotonic clock.
//
// # Policies
//
// A PolicyFunc maps the resolved tenant to its Policy: a tenant-wide
// Limit and a per-user Limit, either of which may be zero (none). Take
// them from the tenant's plan or from values stored for it; a PolicyFunc
// error refuses the request (503), it never means "unlimited".
//
// # Headers
//
// Counted responses carry the fields of the IETF draft
// draft-ietf-httpapi-ratelimit-headers-10 (the structured-field syntax of
// drafts 08 to 10), one list member per policy that applied:
//
//	RateLimit-Policy: "user";q=20;w=60, "tenant";q=100;w=60
//	RateLimit: "user";r=19;t=3, "tenant";r=87;t=8
//
// q is the burst and w the seconds in which the burst refills
// (Burst·Period/Rate); r is what remains now and t the seconds until the
// policy is full again. A refused request is answered 429 with
// Retry-After (whole seconds, at least 1) by the deny handler.
//
// # Security
//
// Keys are built by the Limiter only, from the resolved tenant's ID in
// the context — a canonical UUID, checked — and, for user limits, the
// user's ID escaped so that only [A-Za-z0-9._-] appear raw:
//
//	tw:rl:<tenant ID>:t   tw:rl:<tenant ID>:u:<escaped user ID>
//
// No user ID can end one tenant's part of a key and start another's, two
// user IDs never share a key, and nothing a client sends becomes a key
// unless WithUser says it is an authenticated identity. Without a tenant
// the Limiter returns tenant.ErrNoTenant and the middleware refuses the
// request; it never counts an unscoped key. A user's refused request does
// not spend the tenant's budget (the user's limit is checked first).
//
// # Redis unreachable
//
// By default the Limiter fails closed: a request it could not count is
// answered 503 with Retry-After, so Redis being down never means
// "unlimited". WithFailOpen(true) serves such requests uncounted, without
// RateLimit headers, and logs each failure: for services where an outage
// of the limiter must not become an outage of the service (the reference
// server does this, as its cache degrades the same way).
//
// # Tenant deletion
//
// RedisStore.DeleteTenant finds a tenant's keys by SCAN on every node
// that can hold them: the one server (or a Sentinel client's primary),
// every master of a Redis Cluster, every shard of a Ring. A SCAN sent
// through a Ring or Cluster client reaches one node only, so another
// client type (a wrapper, an AutoPipeliner) is refused with ErrConfig,
// and a Ring with a shard out with ErrStore: a partial scan is never
// reported as a deletion.
//
// # Errors
//
// ErrInvalidLimit, ErrInvalidUser, ErrStore, ErrPolicy and ErrConfig;
// test with errors.Is.
//
// # Testing
//
// Both stores run ratelimittest.RunStoreTests against a real Redis and in
// memory; the fail-open and fail-closed behaviours are tested with a
// redis-server of the test's own that is killed; DeleteTenant runs on one
// Redis, a Redis Cluster and a Ring of three shards; FuzzUserKey checks that
// no two tenants or users share a key.
package ratelimit
