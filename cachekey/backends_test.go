package cachekey_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/cachekey"
	"github.com/tenantwall/tenantwall/internal/testenv"
	"github.com/tenantwall/tenantwall/tenant"
	"github.com/tenantwall/tenantwall/tenant/tenanttest"
)

// backend opens a Keyspace on one store. expire makes ttl pass for the
// entry under key: the memory backend moves its clock, the Redis backend
// waits for the server to drop the key.
type backend struct {
	name string
	open func(t *testing.T, audit tenant.Auditor) (ks *cachekey.Keyspace, expire func(key string, ttl time.Duration))
}

// clock is a memory Keyspace's clock in tests.
type clock struct{ d atomic.Int64 }

func (c *clock) now() time.Duration      { return time.Duration(c.d.Load()) }
func (c *clock) advance(d time.Duration) { c.d.Add(int64(d)) }

func openMemory(t testing.TB, opts ...cachekey.MemoryOption) (*cachekey.Keyspace, *clock) {
	t.Helper()
	ks, err := cachekey.NewMemory(opts...)
	require.NoError(t, err)
	t.Cleanup(func() { ks.Close() })
	c := &clock{}
	cachekey.SetMemoryClock(ks, c.now)
	return ks, c
}

var backends = []backend{
	{name: "memory", open: func(t *testing.T, audit tenant.Auditor) (*cachekey.Keyspace, func(string, time.Duration)) {
		ks, c := openMemory(t, cachekey.WithMemoryAuditor(audit))
		return ks, func(_ string, ttl time.Duration) { c.advance(ttl) }
	}},
	{name: "redis", open: func(t *testing.T, audit tenant.Auditor) (*cachekey.Keyspace, func(string, time.Duration)) {
		client := testenv.Redis(t)
		ks := newKeyspace(t, client, cachekey.WithAuditor(audit))
		return ks, func(key string, ttl time.Duration) {
			require.Eventually(t, func() bool { return client.Exists(context.Background(), key).Val() == 0 },
				ttl+5*time.Second, 5*time.Millisecond, "Redis did not expire %s", key)
		}
	}},
}

// TestBackends runs the same behaviour tests against every store a
// Keyspace can have.
func TestBackends(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { runBehaviour(t, b) })
	}
}

// runBehaviour runs every behaviour test against one backend.
func runBehaviour(t *testing.T, b backend) {
	tests := []struct {
		name string
		run  func(t *testing.T, b backend)
	}{
		{"tenants never see each other's entries, whatever the parts", testIsolation},
		{"invalidation drops one tenant's entries and no other's", testInvalidation},
		{"entries expire after the TTL", testExpiry},
		{"purge deletes one tenant's entries, as platform work only", testPurge},
		{"without a tenant everything fails closed", testNoTenant},
		{"delete removes one entry", testDelete},
		{"concurrent misses of one key load once", testSingleFlight},
		{"concurrent tenants, invalidations and deletes never mix values", testConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, b) })
	}
}

// hostileParts are part lists that try to collide with another list or to
// reach into another tenant's namespace.
func hostileParts(other tenant.Tenant) [][]string {
	return [][]string{
		{"dashboard", "overview", "42", "all"}, {"dashboard:overview", "42", "all"},
		{"a:b"}, {"a", "b"}, {"a%3Ab"}, {""}, {"", ""}, {":"}, {"*"}, {"{tag}"}, {"x\x00y"},
		{other.ID, "x"}, {"{" + other.ID + "}", "x"}, {"tw", other.ID, "g0", "x"},
		{"tw:" + other.ID + ":g0:x"}, {"../" + other.ID}, {strings.Repeat("z", 1000)},
	}
}

// loader returns a loader that records its call and answers the context
// tenant's ID with what: a value can only be served to the tenant whose
// ID it carries.
func loader(calls *atomic.Int64, what string) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		calls.Add(1)
		id, err := tenant.IDFromContext(ctx)
		if err != nil {
			return "", err
		}
		return id + "|" + what, nil
	}
}

func noLoad(context.Context) (string, error) { return "", errors.New("must be a hit") }

func newCache(t *testing.T, ks *cachekey.Keyspace, ttl time.Duration) *cachekey.Cache[string] {
	t.Helper()
	c, err := cachekey.NewCache[string](ks, ttl)
	require.NoError(t, err)
	return c
}

// siblings returns n tenants whose IDs share all but their last character.
func siblings(n int) []tenant.Tenant {
	base := tenant.NewID()[:35]
	var ts []tenant.Tenant
	for i := range n {
		tt := tenanttest.NewTenant(tenanttest.RandomSlug("t"))
		tt.ID = base + string("0123456789abcdef"[i])
		ts = append(ts, tt)
	}
	return ts
}

func ids(ts []tenant.Tenant) []string {
	out := make([]string, len(ts))
	for i, tt := range ts {
		out[i] = tt.ID
	}
	return out
}

func testIsolation(t *testing.T, b backend) {
	ks, _ := b.open(t, nil)
	ts := siblings(3)
	purgeAfter(t, ks, ids(ts)...)
	cache := newCache(t, ks, time.Minute)
	var calls atomic.Int64
	for _, parts := range hostileParts(ts[1]) {
		what := strings.Join(parts, "/")
		for _, tt := range ts {
			v, err := cache.Get(ctxFor(tt), parts, loader(&calls, what))
			require.NoError(t, err)
			assert.Equal(t, tt.ID+"|"+what, v, "tenant %s was served another tenant's entry for %q", tt.Slug, parts)
		}
	}
	assert.EqualValues(t, 3*len(hostileParts(ts[1])), calls.Load(), "a tenant hit another tenant's entry")
	for _, parts := range hostileParts(ts[1]) {
		what := strings.Join(parts, "/")
		for _, tt := range ts {
			v, err := cache.Get(ctxFor(tt), parts, noLoad)
			require.NoError(t, err, "tenant %s lost its entry for %q", tt.Slug, parts)
			assert.Equal(t, tt.ID+"|"+what, v)
		}
	}
}

func testInvalidation(t *testing.T, b backend) {
	ks, _ := b.open(t, nil)
	ts := siblings(2)
	a, o := ts[0], ts[1]
	purgeAfter(t, ks, a.ID, o.ID)
	cache := newCache(t, ks, time.Minute)
	var calls atomic.Int64
	parts := []string{"dashboard", "overview", "42", "all"}
	for _, tt := range ts {
		_, err := cache.Get(ctxFor(tt), parts, loader(&calls, "v1"))
		require.NoError(t, err)
	}
	before, err := ks.Key(ctxFor(a), parts...)
	require.NoError(t, err)
	otherBefore, _ := ks.Key(ctxFor(o), parts...)

	require.NoError(t, ks.Invalidate(ctxFor(a)))
	after, err := ks.Key(ctxFor(a), parts...)
	require.NoError(t, err)
	assert.NotEqual(t, before, after, "the generation did not move")
	otherAfter, _ := ks.Key(ctxFor(o), parts...)
	assert.Equal(t, otherBefore, otherAfter, "invalidating one tenant moved another's generation")

	v, err := cache.Get(ctxFor(a), parts, loader(&calls, "v2"))
	require.NoError(t, err)
	assert.Equal(t, a.ID+"|v2", v, "an invalidated entry was served")
	v, err = cache.Get(ctxFor(o), parts, noLoad)
	require.NoError(t, err, "invalidating one tenant dropped another's entry")
	assert.Equal(t, o.ID+"|v1", v)

	assert.ErrorIs(t, ks.InvalidateTenant(ctxFor(a), o.ID), tenant.ErrNoTenant, "one tenant invalidated another")
	_, err = cache.Get(ctxFor(o), parts, noLoad)
	require.NoError(t, err, "a refused InvalidateTenant dropped the entry")
	pctx, err := tenant.WithPlatformScope(context.Background(), "operator edit")
	require.NoError(t, err)
	require.NoError(t, ks.InvalidateTenant(pctx, o.ID))
	v, err = cache.Get(ctxFor(o), parts, loader(&calls, "v2"))
	require.NoError(t, err)
	assert.Equal(t, o.ID+"|v2", v, "InvalidateTenant did not drop the tenant's entry")
	assert.ErrorIs(t, ks.InvalidateTenant(pctx, "x"), tenant.ErrInvalidID)
	assert.ErrorIs(t, ks.InvalidateTenant(pctx, ""), tenant.ErrInvalidID)
}

func testExpiry(t *testing.T, b backend) {
	ks, expire := b.open(t, nil)
	a := tenanttest.NewTenant("acme")
	purgeAfter(t, ks, a.ID)
	const ttl = 300 * time.Millisecond
	cache := newCache(t, ks, ttl)
	var calls atomic.Int64
	parts := []string{"report"}
	_, err := cache.Get(ctxFor(a), parts, loader(&calls, "v"))
	require.NoError(t, err)
	_, err = cache.Get(ctxFor(a), parts, noLoad)
	require.NoError(t, err, "a fresh entry must be served")
	key, err := ks.Key(ctxFor(a), parts...)
	require.NoError(t, err)
	expire(key, ttl)
	v, err := cache.Get(ctxFor(a), parts, loader(&calls, "reloaded"))
	require.NoError(t, err)
	assert.Equal(t, a.ID+"|reloaded", v, "an expired entry was served")
	assert.EqualValues(t, 2, calls.Load())
}

func testPurge(t *testing.T, b backend) {
	audit := &tenanttest.AuditRecorder{}
	ks, _ := b.open(t, audit)
	ts := siblings(4)
	purgeAfter(t, ks, ids(ts)...)
	cache := newCache(t, ks, time.Hour)
	var calls atomic.Int64
	const n = 50
	for _, tt := range ts {
		for i := range n {
			_, err := cache.Get(ctxFor(tt), []string{"item", fmt.Sprint(i), "*"}, loader(&calls, "v"))
			require.NoError(t, err)
		}
	}
	victim := ts[1].ID

	_, err := ks.Purge(context.Background(), victim)
	assert.ErrorIs(t, err, tenant.ErrNoTenant, "purge is platform work")
	_, err = ks.Purge(ctxFor(ts[0]), victim)
	assert.ErrorIs(t, err, tenant.ErrNoTenant, "a tenant context is not a platform scope")
	_, err = cache.Get(ctxFor(ts[1]), []string{"item", "0", "*"}, noLoad)
	require.NoError(t, err, "a refused purge deleted entries")
	assert.Zero(t, audit.Count(tenant.EventPlatformAccess))

	pctx, err := tenant.WithPlatformScope(context.Background(), "tenant deleted")
	require.NoError(t, err)
	_, err = ks.Purge(pctx, "not-an-id")
	assert.ErrorIs(t, err, tenant.ErrInvalidID)
	deleted, err := ks.Purge(pctx, victim)
	require.NoError(t, err)
	assert.EqualValues(t, n, deleted)
	e, ok := audit.Last()
	require.True(t, ok, "the purge was not audited")
	assert.Equal(t, tenant.EventPlatformAccess, e.Kind)
	assert.Equal(t, victim, e.OwnerID)

	for _, tt := range ts {
		for i := range n {
			parts := []string{"item", fmt.Sprint(i), "*"}
			if tt.ID == victim {
				v, err := cache.Get(ctxFor(tt), parts, loader(&calls, "after"))
				require.NoError(t, err)
				assert.Equal(t, tt.ID+"|after", v, "a purged entry was served")
				continue
			}
			_, err := cache.Get(ctxFor(tt), parts, noLoad)
			require.NoError(t, err, "purging %s deleted an entry of %s", victim, tt.ID)
		}
	}
}

func testNoTenant(t *testing.T, b backend) {
	ks, _ := b.open(t, nil)
	cache := newCache(t, ks, time.Minute)
	ctxs := map[string]context.Context{
		"no tenant":      context.Background(),
		"platform scope": func() context.Context { c, _ := tenant.WithPlatformScope(context.Background(), "x"); return c }(),
	}
	for name, ctx := range ctxs {
		t.Run(name, func(t *testing.T) {
			_, err := ks.Key(ctx, "x")
			assert.ErrorIs(t, err, tenant.ErrNoTenant)
			_, err = ks.Namespace(ctx)
			assert.ErrorIs(t, err, tenant.ErrNoTenant)
			assert.ErrorIs(t, ks.Invalidate(ctx), tenant.ErrNoTenant)
			var calls atomic.Int64
			_, err = cache.Get(ctx, []string{"x"}, loader(&calls, "v"))
			assert.ErrorIs(t, err, tenant.ErrNoTenant)
			assert.Zero(t, calls.Load(), "the loader ran without a tenant")
			assert.ErrorIs(t, cache.Delete(ctx, "x"), tenant.ErrNoTenant)
		})
	}
	a := tenanttest.NewTenant("acme")
	_, err := ks.Key(ctxFor(a))
	assert.ErrorIs(t, err, cachekey.ErrNoParts)
	_, err = cache.Get(ctxFor(a), nil, noLoad)
	assert.ErrorIs(t, err, cachekey.ErrNoParts)
}

func testDelete(t *testing.T, b backend) {
	ks, _ := b.open(t, nil)
	ts := siblings(2)
	purgeAfter(t, ks, ids(ts)...)
	cache := newCache(t, ks, time.Minute)
	var calls atomic.Int64
	for _, tt := range ts {
		for _, p := range []string{"a", "b"} {
			_, err := cache.Get(ctxFor(tt), []string{p}, loader(&calls, p))
			require.NoError(t, err)
		}
	}
	require.NoError(t, cache.Delete(ctxFor(ts[0]), "a"))
	v, err := cache.Get(ctxFor(ts[0]), []string{"a"}, loader(&calls, "again"))
	require.NoError(t, err)
	assert.Equal(t, ts[0].ID+"|again", v)
	for _, c := range []struct {
		tt tenant.Tenant
		p  string
	}{{ts[0], "b"}, {ts[1], "a"}, {ts[1], "b"}} {
		_, err := cache.Get(ctxFor(c.tt), []string{c.p}, noLoad)
		assert.NoError(t, err, "deleting one entry dropped %s of %s", c.p, c.tt.Slug)
	}
}

func testSingleFlight(t *testing.T, b backend) {
	ks, _ := b.open(t, nil)
	a := tenanttest.NewTenant("acme")
	purgeAfter(t, ks, a.ID)
	cache := newCache(t, ks, time.Minute)
	ctx := ctxFor(a)
	_, err := ks.Key(ctx, "warm")
	require.NoError(t, err)
	var calls atomic.Int64
	gate := make(chan struct{})
	load := func(ctx context.Context) (string, error) {
		calls.Add(1)
		<-gate
		return "value", nil
	}
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for range 200 {
		wg.Go(func() {
			v, err := cache.Get(ctx, []string{"report"}, load)
			if err == nil && v != "value" {
				err = fmt.Errorf("got %q", v)
			}
			errs <- err
		})
	}
	require.Eventually(t, func() bool { return calls.Load() >= 1 }, 5*time.Second, time.Millisecond)
	close(gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	assert.EqualValues(t, 1, calls.Load())
}

func testConcurrent(t *testing.T, b backend) {
	ks, _ := b.open(t, nil)
	ts := siblings(6)
	purgeAfter(t, ks, ids(ts)...)
	cache := newCache(t, ks, time.Minute)
	var calls atomic.Int64
	var wg sync.WaitGroup
	wrong := make(chan string, 1)
	for w := range 12 {
		tt := ts[w%len(ts)]
		wg.Go(func() {
			ctx := ctxFor(tt)
			for i := range 100 {
				parts := []string{"p", fmt.Sprint(i % 7)}
				switch i % 10 {
				case 3:
					_ = ks.Invalidate(ctx)
				case 7:
					_ = cache.Delete(ctx, parts...)
				}
				v, err := cache.Get(ctx, parts, loader(&calls, "v"))
				if err != nil || !strings.HasPrefix(v, tt.ID+"|") {
					select {
					case wrong <- fmt.Sprintf("tenant %s got %q, %v", tt.ID, v, err):
					default:
					}
					return
				}
			}
		})
	}
	wg.Wait()
	close(wrong)
	for msg := range wrong {
		t.Error(msg)
	}
}

// TestBackendsBuildTheSameKeys: a memory Keyspace is a drop-in for a Redis
// one with the default options, down to the key text but for the epoch
// (a random token in Redis, memoryEpoch in memory).
func TestBackendsBuildTheSameKeys(t *testing.T) {
	r := newKeyspace(t, testenv.Redis(t))
	m, _ := openMemory(t)
	ts := siblings(2)
	purgeAfter(t, r, ids(ts)...)
	for _, tt := range ts {
		for _, parts := range hostileParts(ts[1]) {
			rk, err := r.Key(ctxFor(tt), parts...)
			require.NoError(t, err)
			mk, err := m.Key(ctxFor(tt), parts...)
			require.NoError(t, err)
			rn, _ := r.Namespace(ctxFor(tt))
			assert.Equal(t, withoutEpoch(t, rn, rk), withoutEpoch(t, rn, mk))
			assert.Regexp(t, `^e[A-Za-z0-9_-]{8}:g`, rk[len(rn):], "a Redis key carries the epoch")
			assert.Equal(t, rn+"e0:g0:", mk[:len(rn)+6])
		}
		rn, _ := r.Namespace(ctxFor(tt))
		mn, _ := m.Namespace(ctxFor(tt))
		assert.Equal(t, rn, mn)
	}
}

// withoutEpoch removes the epoch segment that follows the namespace ns in
// key.
func withoutEpoch(t *testing.T, ns, key string) string {
	t.Helper()
	require.True(t, strings.HasPrefix(key, ns+"e"), "key %q does not start with %q and an epoch", key, ns)
	_, rest, ok := strings.Cut(key[len(ns):], ":")
	require.True(t, ok, "key %q has no segment after the epoch", key)
	return ns + rest
}
