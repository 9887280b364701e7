package cachekey_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
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

// client returns a client of the private server that gives up quickly, as
// a production client with timeouts does.
func client(t *testing.T, r *testenv.RedisServer) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: r.Addr(), MaxRetries: -1,
		DialTimeout: 300 * time.Millisecond, ReadTimeout: 300 * time.Millisecond,
		WriteTimeout: 300 * time.Millisecond, PoolTimeout: 300 * time.Millisecond})
	t.Cleanup(func() { c.Close() })
	return c
}

// source is the database behind a cache: a version that every write
// raises, so a cached value older than the last write is visible.
type source struct{ version atomic.Int64 }

func (s *source) write() int64 { return s.version.Add(1) }

func (s *source) load(context.Context) (int64, error) { return s.version.Load(), nil }

func mustGet(t *testing.T, c *cachekey.Cache[int64], ctx context.Context, src *source) int64 {
	t.Helper()
	v, err := c.Get(ctx, []string{"dashboard", "overview"}, src.load)
	require.NoError(t, err)
	return v
}

// TestNoStaleReadAfterRedisLosesItsData restarts or rewinds a real Redis
// between a write and a read, for a process that invalidates and for one
// that only reads, and checks that no value older than the last
// invalidation is served once Redis is back.
func TestNoStaleReadAfterRedisLosesItsData(t *testing.T) {
	cases := []struct {
		name string
		// lose happens once both processes hold generation 2; a snapshot
		// was saved at generation 1.
		lose func(r *testenv.RedisServer)
	}{
		{"Redis restarted empty", func(r *testenv.RedisServer) { r.RestartEmpty() }},
		{"Redis came back from a snapshot that missed the last invalidation (a lagging replica)",
			func(r *testenv.RedisServer) { r.RestartFromSnapshot() }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := testenv.StartRedisServer(t)
			// B follows by pub/sub and, when a restart of Redis cost it the
			// message (its subscription reconnects late), by the log's epoch
			// read at its next tick: the bound cachekey documents.
			a := newKeyspace(t, client(t, r), cachekey.WithRefresh(time.Hour))
			b := newKeyspace(t, client(t, r), cachekey.WithRefresh(50*time.Millisecond))
			ca, err := cachekey.NewCache[int64](a, time.Hour)
			require.NoError(t, err)
			cb, err := cachekey.NewCache[int64](b, time.Hour)
			require.NoError(t, err)
			ctx := ctxFor(tenanttest.NewTenant("acme"))
			src := &source{}

			src.write()
			require.NoError(t, a.Invalidate(ctx))
			require.EqualValues(t, 1, mustGet(t, ca, ctx, src))
			r.Save() // the snapshot has generation 1 and version 1 cached
			src.write()
			require.NoError(t, a.Invalidate(ctx))
			require.EqualValues(t, 2, mustGet(t, ca, ctx, src))
			require.Eventually(t, func() bool { return mustGet(t, cb, ctx, src) == 2 },
				5*time.Second, 5*time.Millisecond, "B never saw the invalidation")

			tc.lose(r)

			// Both processes still hold generation 2. Whatever Redis
			// now says, a write and its invalidation must be seen, also
			// when both processes filled the cache again before it.
			for range 3 {
				mustGet(t, ca, ctx, src)
				mustGet(t, cb, ctx, src)
				want := src.write()
				require.NoError(t, a.Invalidate(ctx))
				assert.Equal(t, want, mustGet(t, ca, ctx, src), "the invalidating process served a stale value")
				require.Eventually(t, func() bool { return mustGet(t, cb, ctx, src) == want },
					5*time.Second, 5*time.Millisecond, "the other process kept a stale value")
			}
		})
	}
}

// TestInvalidationsWhileRedisIsDown invalidates while Redis cannot be
// reached: Invalidate fails, and once Redis is back no process serves a
// value older than that invalidation, whether Redis kept its data or not.
func TestInvalidationsWhileRedisIsDown(t *testing.T) {
	cases := []struct {
		name       string
		down, back func(r *testenv.RedisServer)
	}{
		{"Redis stalled (SIGSTOP) and resumed with its data",
			func(r *testenv.RedisServer) { r.Signal(syscall.SIGSTOP) }, func(r *testenv.RedisServer) { r.Signal(syscall.SIGCONT) }},
		{"Redis stopped and restarted from a snapshot of its data",
			func(r *testenv.RedisServer) { r.Save(); r.Kill() }, func(r *testenv.RedisServer) { r.Start() }},
		{"Redis stopped and restarted empty",
			func(r *testenv.RedisServer) { r.Kill() }, func(r *testenv.RedisServer) { r.RestartEmpty() }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := testenv.StartRedisServer(t)
			a := newKeyspace(t, client(t, r), cachekey.WithRefresh(time.Hour))
			// B learns of the pending invalidation when A retries it, at
			// A's next use of the tenant or A's refresher: by pub/sub, or,
			// when the restart cost it the message (its subscription
			// reconnects late), from the log at its next tick.
			b := newKeyspace(t, client(t, r), cachekey.WithRefresh(50*time.Millisecond))
			ca, err := cachekey.NewCache[int64](a, time.Hour)
			require.NoError(t, err)
			cb, err := cachekey.NewCache[int64](b, time.Hour)
			require.NoError(t, err)
			acme, globex := tenanttest.NewTenant("acme"), tenanttest.NewTenant("globex")
			ctx, other := ctxFor(acme), ctxFor(globex)
			src, otherSrc := &source{}, &source{}
			src.write()
			otherSrc.write()
			require.EqualValues(t, 1, mustGet(t, ca, ctx, src))
			require.EqualValues(t, 1, mustGet(t, cb, ctx, src))
			require.EqualValues(t, 1, mustGet(t, ca, other, otherSrc))

			tc.down(r)
			want := src.write()
			err = a.Invalidate(ctx)
			require.Error(t, err, "an invalidation that did not reach Redis must say so")
			// While Redis is down the cache degrades to the loader.
			assert.Equal(t, want, mustGet(t, ca, ctx, src))
			_, err = a.Key(ctx, "dashboard")
			assert.Error(t, err, "no key may be built for a tenant whose invalidation is pending")
			tc.back(r)

			assert.Equal(t, want, mustGet(t, ca, ctx, src), "the invalidating process served a value older than its invalidation")
			require.Eventually(t, func() bool { return mustGet(t, cb, ctx, src) == want },
				5*time.Second, 5*time.Millisecond, "the other process kept a value older than the invalidation")
			// Another tenant, never invalidated, is served correctly
			// (from its entry if Redis kept it).
			assert.EqualValues(t, 1, mustGet(t, ca, other, otherSrc))
		})
	}
}

// TestPendingInvalidationReachesOtherProcessesWithoutUse: the refresher
// retries an invalidation that failed, even if this process never uses
// the tenant again.
func TestPendingInvalidationReachesOtherProcessesWithoutUse(t *testing.T) {
	r := testenv.StartRedisServer(t)
	a := newKeyspace(t, client(t, r), cachekey.WithRefresh(20*time.Millisecond))
	b := newKeyspace(t, client(t, r), cachekey.WithRefresh(time.Hour))
	cb, err := cachekey.NewCache[int64](b, time.Hour)
	require.NoError(t, err)
	ctx := ctxFor(tenanttest.NewTenant("acme"))
	src := &source{}
	src.write()
	require.EqualValues(t, 1, mustGet(t, cb, ctx, src))

	r.Signal(syscall.SIGSTOP)
	want := src.write()
	require.Error(t, a.Invalidate(ctx))
	r.Signal(syscall.SIGCONT)
	require.Eventually(t, func() bool { return mustGet(t, cb, ctx, src) == want },
		5*time.Second, 5*time.Millisecond, "the pending invalidation never reached the other process")
}

// TestDashboardCountFollowsTheListAcrossARedisRestart is the reference
// server's dashboard from issue 20: the lead count is cached, the list is
// not, every new lead invalidates the tenant, and Redis restarts empty in
// the middle. After every write the dashboard must count what the list
// shows, for each of several tenants.
func TestDashboardCountFollowsTheListAcrossARedisRestart(t *testing.T) {
	r := testenv.StartRedisServer(t)
	server := newKeyspace(t, client(t, r), cachekey.WithRefresh(time.Hour))
	dash, err := cachekey.NewCache[map[string]int](server, 5*time.Minute)
	require.NoError(t, err)
	var mu sync.Mutex
	leads := map[string][]string{} // tenant ID → lead names: the database
	list := func(ctx context.Context) []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), leads[tenant.MustFromContext(ctx).ID]...)
	}
	overview := func(ctx context.Context) (map[string]int, error) {
		return map[string]int{"leads": len(list(ctx))}, nil
	}
	create := func(ctx context.Context, name string) {
		mu.Lock()
		id := tenant.MustFromContext(ctx).ID
		leads[id] = append(leads[id], name)
		mu.Unlock()
		require.NoError(t, server.Invalidate(ctx))
	}
	parts := []string{"dashboard", "overview", "42", "all"}
	tenants := make([]context.Context, 4)
	for i := range tenants {
		tenants[i] = ctxFor(tenanttest.NewTenant(fmt.Sprintf("t%d", i)))
		for j := range 13 { // the reproduction's 13 leads, and some invalidations
			create(tenants[i], fmt.Sprintf("lead %d", j))
		}
	}
	for step := range 15 {
		if step == 3 {
			r.RestartEmpty()
		}
		for i, ctx := range tenants {
			// The dashboard is read between restart and write too, so
			// that entries are written again at the old generation.
			_, err := dash.Get(ctx, parts, overview)
			require.NoError(t, err)
			create(ctx, fmt.Sprintf("new lead %d", step))
			got, err := dash.Get(ctx, parts, overview)
			require.NoError(t, err)
			require.Equal(t, len(list(ctx)), got["leads"], "tenant %d, write %d: the dashboard disagrees with the list", i, step)
		}
	}
}

// TestEpochKeyThatIsNotAnEpochIsReplaced: whatever the epoch key holds
// that this package did not write never reaches a key.
func TestEpochKeyThatIsNotAnEpochIsReplaced(t *testing.T) {
	r := testenv.StartRedisServer(t)
	c := client(t, r)
	hostile := []string{"", "x", "0", "abcdefg", "abcdefghi", "abc:defg", "ab{cd}ef", "abc\x00defg",
		"../abcde", "abc*defg", "abc defg", "abcdéf", "abcdefgh\n"}
	for _, v := range hostile {
		t.Run(fmt.Sprintf("the epoch key holding %q", v), func(t *testing.T) {
			require.NoError(t, c.Set(context.Background(), "tw:epoch", v, 0).Err())
			ks := newKeyspace(t, c, cachekey.WithRefresh(time.Hour))
			ctx := ctxFor(tenanttest.NewTenant("acme"))
			key, err := ks.Key(ctx, "x")
			require.NoError(t, err)
			ns, _ := ks.Namespace(ctx)
			assert.Regexp(t, `^e[A-Za-z0-9_-]{8}:g0:x$`, key[len(ns):])
			assert.NotEqual(t, v, c.Get(context.Background(), "tw:epoch").Val())
		})
	}
}
