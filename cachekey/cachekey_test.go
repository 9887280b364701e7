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

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/cachekey"
	"github.com/tenantwall/tenantwall/internal/testenv"
	"github.com/tenantwall/tenantwall/tenant"
	"github.com/tenantwall/tenantwall/tenant/tenanttest"
)

func newKeyspace(t testing.TB, client redis.UniversalClient, opts ...cachekey.Option) *cachekey.Keyspace {
	t.Helper()
	ks, err := cachekey.New(client, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { ks.Close() })
	return ks
}

func ctxFor(tt tenant.Tenant) context.Context { return tenant.NewContext(context.Background(), tt) }

// purgeAfter removes a tenant's keys when the test ends: tests share the
// server and never flush it.
func purgeAfter(t testing.TB, ks *cachekey.Keyspace, ids ...string) {
	t.Cleanup(func() {
		ctx, _ := tenant.WithPlatformScope(context.Background(), "test cleanup")
		for _, id := range ids {
			_, _ = ks.Purge(ctx, id)
			if c := ks.Client(); c != nil {
				// Purge leaves the generation counter (outside the
				// namespace); a test leaves nothing.
				_ = c.Del(context.Background(), cachekey.GenKey(ks, id)).Err()
			}
		}
	})
}

func TestKeysNeverCollide(t *testing.T) {
	client := testenv.Redis(t)
	for _, hashTags := range []bool{false, true} {
		t.Run(fmt.Sprintf("hash tags %v", hashTags), func(t *testing.T) {
			ks := newKeyspace(t, client, cachekey.WithHashTags(hashTags))
			a, b := tenanttest.NewTenant("acme"), tenanttest.NewTenant("acme2")
			purgeAfter(t, ks, a.ID, b.ID)
			lists := [][]string{
				{"a:b"}, {"a", "b"}, {"a%3Ab"}, {"a%b"}, {""}, {"", ""}, {"", "", ""}, {":"}, {"::"},
				{"*"}, {"?"}, {"[a-z]"}, {"\\"}, {"{tag}"}, {"}{"}, {"a", ""}, {"", "a"},
				{"g1"}, {"gen"}, {"x\x00y"}, {"x\ny"}, {"%"}, {"%25"}, {strings.Repeat("z", 1000)},
				{"dashboard", "overview", "42", "all"},
				{"dashboard:overview", "42", "all"},
				{b.ID, "x"}, {"{" + b.ID + "}", "x"}, {"tw", b.ID, "g0", "x"},
			}
			seen := map[string]string{}
			for _, tt := range []tenant.Tenant{a, b} {
				ctx := ctxFor(tt)
				ns, err := ks.Namespace(ctx)
				require.NoError(t, err)
				other := tenant.Tenant(a)
				if tt.ID == a.ID {
					other = b
				}
				otherNS, _ := ks.Namespace(ctxFor(other))
				for _, parts := range lists {
					k, err := ks.Key(ctx, parts...)
					require.NoError(t, err)
					who := fmt.Sprintf("%s %q", tt.Slug, parts)
					if prev, dup := seen[k]; dup {
						t.Errorf("%s and %s give the same key %q", prev, who, k)
					}
					seen[k] = who
					assert.True(t, strings.HasPrefix(k, ns), "%s: key %q outside %q", who, k, ns)
					assert.False(t, strings.HasPrefix(k, otherNS), "%s: key %q inside the other tenant's namespace", who, k)
					if hashTags {
						assert.Equal(t, 1, strings.Count(k, "{"), "%s: key %q must hold exactly one hash tag", who, k)
					} else {
						assert.NotContains(t, k, "{", "%s: a part introduced a hash tag", who)
					}
					assert.False(t, strings.ContainsAny(k[len(ns):], "*?[]\\"), "%s: glob characters in %q", who, k)
				}
			}
			_, err := ks.Key(ctxFor(a))
			assert.ErrorIs(t, err, cachekey.ErrNoParts)
			_, err = ks.Key(context.Background(), "dashboard")
			assert.ErrorIs(t, err, tenant.ErrNoTenant)
		})
	}
}

func TestPartsDecodeBack(t *testing.T) {
	for _, p := range []string{"", "plain", "a:b", "50%", "{x}", "*?[]\\", "\x00\x1f\x7f", "ünï"} {
		client := testenv.Redis(t)
		ks := newKeyspace(t, client)
		a := tenanttest.NewTenant("acme")
		purgeAfter(t, ks, a.ID)
		k, err := ks.Key(ctxFor(a), "pre", p)
		require.NoError(t, err)
		enc := k[strings.LastIndexByte(k, ':')+1:]
		got, ok := cachekey.DecodePart(enc)
		assert.True(t, ok)
		assert.Equal(t, p, got)
	}
	_, ok := cachekey.DecodePart("%G1")
	assert.False(t, ok)
	_, ok = cachekey.DecodePart("%4")
	assert.False(t, ok)
}

func FuzzKey(f *testing.F) {
	client := testenv.Redis(f)
	ks := newKeyspace(f, client)
	a, b := tenanttest.NewTenant("acme"), tenanttest.NewTenant("globex")
	purgeAfter(f, ks, a.ID, b.ID)
	nsA, _ := ks.Namespace(ctxFor(a))
	nsB, _ := ks.Namespace(ctxFor(b))
	f.Add("a:b", "c", "a", "b:c")
	f.Add("", "", "x", "")
	f.Add("{", "}", "%7B", "%7D")
	f.Fuzz(func(t *testing.T, p1, p2, q1, q2 string) {
		k1, err := ks.Key(ctxFor(a), p1, p2)
		require.NoError(t, err)
		k2, err := ks.Key(ctxFor(a), q1, q2)
		require.NoError(t, err)
		if (p1 != q1 || p2 != q2) && k1 == k2 {
			t.Fatalf("%q and %q give the same key %q", []string{p1, p2}, []string{q1, q2}, k1)
		}
		kb, err := ks.Key(ctxFor(b), p1, p2)
		require.NoError(t, err)
		if !strings.HasPrefix(k1, nsA) || strings.HasPrefix(k1, nsB) || !strings.HasPrefix(kb, nsB) || kb == k1 {
			t.Fatalf("tenant segment broken: %q %q", k1, kb)
		}
	})
}

func TestInvalidateIsImmediateHereAndReachesOtherProcesses(t *testing.T) {
	client := testenv.Redis(t)
	ks := newKeyspace(t, client, cachekey.WithRefresh(time.Hour)) // pub/sub only
	other := newKeyspace(t, testenv.Redis(t), cachekey.WithRefresh(time.Hour))
	a, b := tenanttest.NewTenant("acme"), tenanttest.NewTenant("globex")
	purgeAfter(t, ks, a.ID, b.ID)
	ctxA, ctxB := ctxFor(a), ctxFor(b)

	k1, err := ks.Key(ctxA, "leads")
	require.NoError(t, err)
	o1, err := other.Key(ctxA, "leads")
	require.NoError(t, err)
	require.Equal(t, k1, o1)
	kb1, _ := ks.Key(ctxB, "leads")

	require.NoError(t, ks.Invalidate(ctxA))
	k2, err := ks.Key(ctxA, "leads")
	require.NoError(t, err)
	assert.NotEqual(t, k1, k2, "the bumping process must see its own bump at once")
	require.Eventually(t, func() bool {
		o2, _ := other.Key(ctxA, "leads")
		return o2 == k2
	}, 5*time.Second, 5*time.Millisecond, "the bump must reach the other process through pub/sub")
	kb2, _ := ks.Key(ctxB, "leads")
	assert.Equal(t, kb1, kb2, "invalidating A must not touch B")

	assert.ErrorIs(t, ks.Invalidate(context.Background()), tenant.ErrNoTenant)
	assert.Error(t, ks.InvalidateTenant(context.Background(), "not-an-id"))
}

func TestInvalidateTenantIsPlatformWork(t *testing.T) {
	var mu sync.Mutex
	var events []tenant.Event
	au := tenant.AuditorFunc(func(_ context.Context, e tenant.Event) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, e)
	})
	ks := newKeyspace(t, testenv.Redis(t), cachekey.WithRefresh(time.Hour), cachekey.WithAuditor(au))
	a, b := tenanttest.NewTenant("acme"), tenanttest.NewTenant("globex")
	purgeAfter(t, ks, a.ID, b.ID)
	before, err := ks.Key(ctxFor(b), "leads")
	require.NoError(t, err)
	platform, err := tenant.WithPlatformScope(context.Background(), "branding changed by an operator")
	require.NoError(t, err)

	refused := []struct {
		name string
		ctx  context.Context
	}{
		{"another tenant's context cannot invalidate B", ctxFor(a)},
		{"B's own context is not a platform scope either", ctxFor(b)},
		{"a bare context cannot invalidate B", context.Background()},
	}
	for _, c := range refused {
		t.Run(c.name, func(t *testing.T) {
			require.ErrorIs(t, ks.InvalidateTenant(c.ctx, b.ID), tenant.ErrNoTenant)
			after, err := ks.Key(ctxFor(b), "leads")
			require.NoError(t, err)
			assert.Equal(t, before, after, "B's generation moved")
		})
	}
	t.Run("a platform scope invalidates B and is audited", func(t *testing.T) {
		require.NoError(t, ks.InvalidateTenant(platform, b.ID))
		after, err := ks.Key(ctxFor(b), "leads")
		require.NoError(t, err)
		assert.NotEqual(t, before, after)
		mu.Lock()
		defer mu.Unlock()
		require.Len(t, events, 1)
		assert.Equal(t, tenant.EventPlatformAccess, events[0].Kind)
		assert.Equal(t, b.ID, events[0].OwnerID)
		assert.Contains(t, events[0].Resource, "branding changed by an operator")
	})
	t.Run("a malformed ID is refused even under a platform scope", func(t *testing.T) {
		assert.ErrorIs(t, ks.InvalidateTenant(platform, "not-an-id"), tenant.ErrInvalidID)
	})
}

func TestRefreshBoundsStalenessWithoutPubSub(t *testing.T) {
	// The bound: a bump whose pub/sub message is lost reaches a process
	// at its next refresh tick (WithRefresh), when it reads the log.
	const refresh = 50 * time.Millisecond
	ks := newKeyspace(t, testenv.Redis(t), cachekey.WithRefresh(refresh))
	other := newKeyspace(t, testenv.Redis(t), cachekey.WithRefresh(time.Hour))
	cachekey.DropMessages(ks, true)
	a := tenanttest.NewTenant("acme")
	purgeAfter(t, ks, a.ID)
	k1, err := ks.Key(ctxFor(a), "x")
	require.NoError(t, err)
	// Let the first tick's full refresh pass, so that what follows is the
	// log, not a re-read of every tenant.
	require.Eventually(t, func() bool { return cachekey.FullRefreshes(ks) > 0 }, 5*time.Second, time.Millisecond)
	full := cachekey.FullRefreshes(ks)

	start := time.Now()
	require.NoError(t, other.Invalidate(ctxFor(a)))
	require.Eventually(t, func() bool {
		k2, _ := ks.Key(ctxFor(a), "x")
		return k2 != k1
	}, 5*time.Second, time.Millisecond)
	took := time.Since(start)
	t.Logf("a lost message was repaired after %v (refresh interval %v)", took, refresh)
	// One interval and a round trip; the rest is room for a loaded CI
	// machine's scheduling.
	assert.Less(t, took, refresh+time.Second, "repair must take about one refresh interval")
	assert.Equal(t, full, cachekey.FullRefreshes(ks), "following the log must not re-read every tenant")
}

func TestAGapInTheLogFallsBackToAFullRefresh(t *testing.T) {
	r := testenv.StartRedisServer(t)
	c := redis.NewClient(&redis.Options{Addr: r.Addr()})
	t.Cleanup(func() { c.Close() })
	ks := newKeyspace(t, c, cachekey.WithRefresh(20*time.Millisecond))
	other := newKeyspace(t, c, cachekey.WithRefresh(time.Hour))
	cachekey.DropMessages(ks, true)
	a, b := tenanttest.NewTenant("acme"), tenanttest.NewTenant("globex")
	k1, err := ks.Key(ctxFor(a), "x")
	require.NoError(t, err)
	require.Eventually(t, func() bool { return cachekey.FullRefreshes(ks) > 0 }, 5*time.Second, time.Millisecond)
	full := cachekey.FullRefreshes(ks)

	// A bump of A whose log entry is gone before this process reads it
	// (trimmed while it was more than the log's length behind): the
	// counter moved, the entry is missing.
	ctx := context.Background()
	_, seqKey := cachekey.LogKeys(ks)
	require.NoError(t, c.Incr(ctx, cachekey.GenKey(ks, a.ID)).Err())
	require.NoError(t, c.Incr(ctx, seqKey).Err())
	// Later entries are there: B's bump.
	require.NoError(t, other.Invalidate(ctxFor(b)))

	require.Eventually(t, func() bool {
		k2, _ := ks.Key(ctxFor(a), "x")
		return k2 != k1
	}, 5*time.Second, time.Millisecond, "the gap must be repaired by re-reading the generations")
	assert.Greater(t, cachekey.FullRefreshes(ks), full)
}

func TestPurgeDeletesOnlyOneTenant(t *testing.T) {
	client := testenv.Redis(t)
	audit := &tenanttest.AuditRecorder{}
	for _, hashTags := range []bool{false, true} {
		t.Run(fmt.Sprintf("hash tags %v", hashTags), func(t *testing.T) {
			ks := newKeyspace(t, client, cachekey.WithHashTags(hashTags), cachekey.WithAuditor(audit))
			// IDs that share all but their last character.
			base := tenant.NewID()[:35]
			var ts []tenant.Tenant
			for _, last := range "0123" {
				tt := tenanttest.NewTenant(tenanttest.RandomSlug("t"))
				tt.ID = base + string(last)
				ts = append(ts, tt)
			}
			ids := []string{ts[0].ID, ts[1].ID, ts[2].ID, ts[3].ID}
			purgeAfter(t, ks, ids...)
			ctx := context.Background()
			for _, tt := range ts {
				for i := range 1200 {
					k, err := ks.Key(ctxFor(tt), "item", fmt.Sprint(i), "*")
					require.NoError(t, err)
					require.NoError(t, client.Set(ctx, k, "v", time.Hour).Err())
				}
			}
			outside := "cachekey-test:" + ts[1].ID + ":unrelated"
			require.NoError(t, client.Set(ctx, outside, "v", time.Hour).Err())
			t.Cleanup(func() { client.Del(context.Background(), outside) })

			_, err := ks.Purge(ctx, ts[1].ID)
			assert.ErrorIs(t, err, tenant.ErrNoTenant, "purge is platform work")
			pctx, _ := tenant.WithPlatformScope(ctx, "tenant deleted")
			n, err := ks.Purge(pctx, ts[1].ID)
			require.NoError(t, err)
			assert.EqualValues(t, 1200, n)
			assert.True(t, audit.Count(tenant.EventPlatformAccess) > 0)
			for i, tt := range ts {
				ns, _ := ks.Namespace(ctxFor(tt))
				cnt := countPrefix(t, client, ns)
				if i == 1 {
					assert.Zero(t, cnt, "purged tenant keeps keys")
				} else {
					assert.Equal(t, 1200, cnt, "tenant %d lost keys", i)
				}
			}
			assert.EqualValues(t, 1, client.Exists(ctx, outside).Val(), "a key outside the namespace was deleted")
		})
	}
}

func countPrefix(t *testing.T, c *redis.Client, prefix string) int {
	t.Helper()
	n := 0
	iter := c.Scan(context.Background(), 0, strings.NewReplacer("{", "\\{", "}", "\\}").Replace(prefix)+"*", 1000).Iterator()
	for iter.Next(context.Background()) {
		n++
	}
	require.NoError(t, iter.Err())
	return n
}

func TestGuard(t *testing.T) {
	audit := &tenanttest.AuditRecorder{}
	base := testenv.Redis(t)
	ks := newKeyspace(t, base, cachekey.WithAuditor(audit))
	opt := base.Options()
	guarded := redis.NewClient(opt)
	t.Cleanup(func() { guarded.Close() })
	trusted := redis.NewScript("return redis.call('GET', KEYS[1])")
	g, err := ks.Guard(cachekey.WithGlobalKeys("feature-flags"), cachekey.WithGlobalPrefixes("public:"), cachekey.WithTrustedScripts(trusted))
	require.NoError(t, err)
	guarded.AddHook(g)
	a, b := tenanttest.NewTenant("acme"), tenanttest.NewTenant("globex")
	purgeAfter(t, ks, a.ID, b.ID)
	ctxA, ctxB := ctxFor(a), ctxFor(b)
	ctx := context.Background()
	kA, _ := ks.Key(ctxA, "x")
	kA2, _ := ks.Key(ctxA, "y")
	kB, _ := ks.Key(ctxB, "x")
	require.NoError(t, base.Set(ctx, kB, "B's secret", time.Minute).Err())

	allowed := []struct {
		name string
		do   func() error
	}{
		{"SET own key", func() error { return guarded.Set(ctxA, kA, "1", time.Minute).Err() }},
		{"GET own key", func() error { return guarded.Get(ctxA, kA).Err() }},
		{"MGET own keys", func() error { return guarded.MGet(ctxA, kA, kA2).Err() }},
		{"MSET own keys", func() error { return guarded.MSet(ctxA, kA, "1", kA2, "2").Err() }},
		{"DEL own keys", func() error { return guarded.Del(ctxA, kA2).Err() }},
		{"EVAL of a trusted script on own key", func() error { return guarded.Eval(ctxA, "return redis.call('GET', KEYS[1])", []string{kA}).Err() }},
		{"global exact key without tenant", func() error { return guarded.Set(ctx, "feature-flags", "{}", time.Minute).Err() }},
		{"global prefix under a tenant", func() error { return guarded.Get(ctxA, "public:motd").Err() }},
		{"PING without tenant", func() error { return guarded.Ping(ctx).Err() }},
	}
	for _, c := range allowed {
		err := c.do()
		if errors.Is(err, redis.Nil) {
			err = nil
		}
		assert.NoError(t, err, c.name)
	}
	t.Cleanup(func() { base.Del(context.Background(), "feature-flags") })

	refused := []struct {
		name string
		do   func() error
		err  error
	}{
		{"GET another tenant's key", func() error { return guarded.Get(ctxA, kB).Err() }, cachekey.ErrForeignKey},
		{"SET another tenant's key", func() error { return guarded.Set(ctxA, kB, "pwned", 0).Err() }, cachekey.ErrForeignKey},
		{"a raw key", func() error { return guarded.Get(ctxA, "dashboard:overview:42").Err() }, cachekey.ErrForeignKey},
		{"a key without tenant", func() error { return guarded.Get(ctx, kA).Err() }, tenant.ErrNoTenant},
		{"MGET mixing tenants", func() error { return guarded.MGet(ctxA, kA, kB).Err() }, cachekey.ErrForeignKey},
		{"MSET smuggling a value", func() error { return guarded.MSet(ctxA, kA, kB, kB, "x").Err() }, cachekey.ErrForeignKey},
		{"RENAME into another tenant", func() error { return guarded.Rename(ctxA, kA, kB).Err() }, cachekey.ErrForeignKey},
		{"EVAL of a trusted script on another tenant's key", func() error { return trusted.Run(ctxA, guarded, []string{kB}).Err() }, cachekey.ErrForeignKey},
		{"EVAL of an untrusted script", func() error { return guarded.Eval(ctxA, "return 1", []string{kA}).Err() }, cachekey.ErrUntrustedScript},
		{"KEYS", func() error { return guarded.Keys(ctxA, "*").Err() }, cachekey.ErrCommand},
		{"SCAN", func() error { return guarded.Scan(ctxA, 0, "*", 10).Err() }, cachekey.ErrCommand},
		{"FLUSHDB", func() error { return guarded.FlushDB(ctxA).Err() }, cachekey.ErrCommand},
		{"an unknown command", func() error { return guarded.Do(ctxA, "frobnicate", kA).Err() }, cachekey.ErrCommand},
		{"a key with another tenant's namespace as a suffix", func() error { return guarded.Get(ctxA, "x"+kB).Err() }, cachekey.ErrForeignKey},
	}
	for _, c := range refused {
		assert.ErrorIs(t, c.do(), c.err, c.name)
	}
	assert.Equal(t, "B's secret", base.Get(ctx, kB).Val(), "B's value changed")
	assert.True(t, audit.Count(tenant.EventCrossTenant) > 0, "cross-tenant keys must be audited")

	t.Run("a pipeline with one foreign key runs nothing", func(t *testing.T) {
		fresh, _ := ks.Key(ctxA, "fresh")
		_, err := guarded.Pipelined(ctxA, func(p redis.Pipeliner) error {
			p.Set(ctxA, fresh, "1", time.Minute)
			p.Get(ctxA, kB)
			return nil
		})
		assert.ErrorIs(t, err, cachekey.ErrForeignKey)
		assert.EqualValues(t, 0, base.Exists(ctx, fresh).Val(), "part of a refused pipeline ran")
		_, err = guarded.TxPipelined(ctxA, func(p redis.Pipeliner) error {
			p.Set(ctxA, fresh, "1", time.Minute)
			p.Del(ctxA, kB)
			return nil
		})
		assert.ErrorIs(t, err, cachekey.ErrForeignKey)
		assert.EqualValues(t, 1, base.Exists(ctx, kB).Val())
		_, err = guarded.Pipelined(ctxA, func(p redis.Pipeliner) error {
			p.Set(ctxA, fresh, "1", time.Minute)
			p.Get(ctxA, fresh)
			return nil
		})
		assert.NoError(t, err)
	})
	t.Run("the keyspace's own commands pass the guard", func(t *testing.T) {
		gks := newKeyspace(t, guarded)
		c := tenanttest.NewTenant("own")
		purgeAfter(t, ks, c.ID)
		_, err := gks.Key(ctxFor(c), "x")
		require.NoError(t, err)
		require.NoError(t, gks.Invalidate(ctxFor(c)))
	})
	_, err = ks.Guard(cachekey.WithGlobalPrefixes("tw"))
	assert.ErrorIs(t, err, cachekey.ErrConfig)
}

// The source plan's example: the same dashboard key parts for two tenants
// never share an entry.
func TestDashboardOverviewIsPerTenant(t *testing.T) {
	client := testenv.Redis(t)
	ks := newKeyspace(t, client)
	cache, err := cachekey.NewCache[map[string]int](ks, time.Minute)
	require.NoError(t, err)
	a, b := tenanttest.NewTenant("acme"), tenanttest.NewTenant("globex")
	purgeAfter(t, ks, a.ID, b.ID)
	parts := []string{"dashboard", "overview", "42", "all"}
	load := func(n int) func(context.Context) (map[string]int, error) {
		return func(ctx context.Context) (map[string]int, error) {
			assert.Equal(t, n == 1, tenant.MustFromContext(ctx).ID == a.ID, "the loader runs in its tenant's context")
			return map[string]int{"leads": n}, nil
		}
	}
	va, err := cache.Get(ctxFor(a), parts, load(1))
	require.NoError(t, err)
	vb, err := cache.Get(ctxFor(b), parts, load(2))
	require.NoError(t, err)
	assert.Equal(t, 1, va["leads"])
	assert.Equal(t, 2, vb["leads"], "tenant B was served tenant A's dashboard")
	va2, err := cache.Get(ctxFor(a), parts, func(context.Context) (map[string]int, error) { return nil, errors.New("must hit") })
	require.NoError(t, err)
	assert.Equal(t, 1, va2["leads"])

	// Invalidation of A drops A's entry only.
	require.NoError(t, ks.Invalidate(ctxFor(a)))
	va3, err := cache.Get(ctxFor(a), parts, load(1))
	require.NoError(t, err)
	assert.Equal(t, 1, va3["leads"])
	vb2, err := cache.Get(ctxFor(b), parts, func(context.Context) (map[string]int, error) { return nil, errors.New("B must still hit") })
	require.NoError(t, err)
	assert.Equal(t, 2, vb2["leads"])
	require.NoError(t, cache.Delete(ctxFor(b), parts...))
	_, err = cache.Get(context.Background(), parts, load(0))
	assert.ErrorIs(t, err, tenant.ErrNoTenant)
}

func TestReadThroughSingleFlight(t *testing.T) {
	client := testenv.Redis(t)
	ks := newKeyspace(t, client)
	cache, err := cachekey.NewCache[string](ks, time.Minute)
	require.NoError(t, err)
	a := tenanttest.NewTenant("acme")
	purgeAfter(t, ks, a.ID)
	ctx := ctxFor(a)
	_, err = ks.Key(ctx, "warm") // read the generation before the stampede
	require.NoError(t, err)
	var loads atomic.Int64
	gate := make(chan struct{})
	load := func(context.Context) (string, error) {
		loads.Add(1)
		<-gate
		return "value", nil
	}
	var wg, started sync.WaitGroup
	errs := make(chan error, 1000)
	for range 1000 {
		wg.Add(1)
		started.Add(1)
		go func() {
			defer wg.Done()
			started.Done()
			v, err := cache.Get(ctx, []string{"report"}, load)
			if err == nil && v != "value" {
				err = fmt.Errorf("got %q", v)
			}
			errs <- err
		}()
	}
	started.Wait()
	require.Eventually(t, func() bool { return loads.Load() >= 1 }, 5*time.Second, time.Millisecond)
	close(gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	// Waiters that missed before the first load finished share it; those
	// that came after it find the entry. Either way: one load.
	assert.EqualValues(t, 1, loads.Load())
}

func TestRedisDownDegradesToTheLoader(t *testing.T) {
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { dead.Close() })
	ks := newKeyspace(t, dead)
	cache, err := cachekey.NewCache[string](ks, time.Minute)
	require.NoError(t, err)
	a := tenanttest.NewTenant("acme")
	v, err := cache.Get(ctxFor(a), []string{"x"}, func(ctx context.Context) (string, error) {
		return "from " + tenant.MustFromContext(ctx).Slug, nil
	})
	require.NoError(t, err)
	assert.Equal(t, "from acme", v)
	boom := errors.New("db down too")
	_, err = cache.Get(ctxFor(a), []string{"x"}, func(context.Context) (string, error) { return "", boom })
	assert.ErrorIs(t, err, boom)
}

func TestOptionsAreValidated(t *testing.T) {
	client := testenv.Redis(t)
	ks := newKeyspace(t, client)
	cases := []struct {
		name   string
		option string // what the error must name
		build  func() error
	}{
		{"an empty prefix is refused", "WithPrefix", func() error { _, err := cachekey.New(client, cachekey.WithPrefix("")); return err }},
		{"a prefix with a separator is refused", "WithPrefix", func() error { _, err := cachekey.New(client, cachekey.WithPrefix("a:b")); return err }},
		{"a prefix with a glob character is refused", "WithPrefix", func() error { _, err := cachekey.New(client, cachekey.WithPrefix("a*")); return err }},
		{"a zero refresh is refused", "WithRefresh", func() error { _, err := cachekey.New(client, cachekey.WithRefresh(0)); return err }},
		{"a negative refresh is refused", "WithRefresh", func() error { _, err := cachekey.New(client, cachekey.WithRefresh(-time.Second)); return err }},
		{"a zero tenant bound is refused", "WithMaxTenants", func() error { _, err := cachekey.New(client, cachekey.WithMaxTenants(0)); return err }},
		{"a nil client is refused", "nil client", func() error { _, err := cachekey.New(nil); return err }},
		{"a cache without a keyspace is refused", "keyspace", func() error { _, err := cachekey.NewCache[int](nil, time.Minute); return err }},
		{"a nil codec is refused", "WithCodec", func() error { _, err := cachekey.NewCache[int](ks, time.Minute, cachekey.WithCodec(nil)); return err }},
		{"a global key inside the tenant namespaces is refused", "WithGlobalKeys", func() error { _, err := ks.Guard(cachekey.WithGlobalKeys("tw:x")); return err }},
		{"a global prefix over the tenant namespaces is refused", "WithGlobalPrefixes", func() error { _, err := ks.Guard(cachekey.WithGlobalPrefixes("tw")); return err }},
		{"an empty global prefix is refused", "WithGlobalPrefixes", func() error { _, err := ks.Guard(cachekey.WithGlobalPrefixes("")); return err }},
		{"a keyed command cannot be declared keyless", "WithKeylessCommands", func() error { _, err := ks.Guard(cachekey.WithKeylessCommands("get")); return err }},
		{"a nil trusted script is refused", "WithTrustedScripts", func() error { _, err := ks.Guard(cachekey.WithTrustedScripts(nil)); return err }},
		{"an empty trusted function is refused", "WithTrustedFunctions", func() error { _, err := ks.Guard(cachekey.WithTrustedFunctions("")); return err }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.build()
			require.ErrorIs(t, err, cachekey.ErrConfig)
			assert.Contains(t, err.Error(), c.option, "the error names what is wrong")
		})
	}
}
