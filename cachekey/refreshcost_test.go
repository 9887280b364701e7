package cachekey_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/cachekey"
	"github.com/tenantwall/tenantwall/internal/testenv"
	"github.com/tenantwall/tenantwall/tenant"
)

// TestRefreshCost measures the Redis commands per second that keeping
// generations fresh costs, from INFO commandstats deltas on a private
// redis-server: one process knowing n tenants, idle; the same with a second
// process invalidating 100 random known tenants a second. The first
// process's own commands are also counted by a hook on its client (Redis
// 7.0 keeps no per-client count), which separates its share from the
// invalidating process's under load. It takes about a minute and only
// runs when asked:
//
//	TENANTWALL_MEASURE_REFRESH=1 go test -count=1 -run '^TestRefreshCost$' -v ./cachekey/
func TestRefreshCost(t *testing.T) {
	if os.Getenv("TENANTWALL_MEASURE_REFRESH") != "1" {
		t.Skip("set TENANTWALL_MEASURE_REFRESH=1 to measure (about a minute)")
	}
	const window = 5 * time.Second
	const rate = 100 // invalidations per second under load
	for _, n := range []int{10, 10_000, 100_000} {
		r := testenv.StartRedisServer(t)
		client := func() *redis.Client {
			c := redis.NewClient(&redis.Options{Addr: r.Addr(), PoolSize: 64})
			t.Cleanup(func() { c.Close() })
			return c
		}
		ids := make([]string, n)
		for i := range ids {
			ids[i] = tenant.NewID()
		}
		oc := client()
		var sent atomic.Int64
		oc.AddHook(counter{&sent})
		observer := newKeyspace(t, oc)
		learn(t, observer, ids)
		time.Sleep(2 * time.Second) // let the first refreshes pass
		s0 := sent.Load()
		idle := commandsPerSecond(t, client(), window)
		idleOwn := float64(sent.Load()-s0) / window.Seconds()

		loadCtx, stop := context.WithCancel(context.Background())
		invalidator := newKeyspace(t, client())
		var done atomic.Int64
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			invalidate(loadCtx, invalidator, ids, rate, &done)
		}()
		time.Sleep(2 * time.Second)
		s0, d0, start := sent.Load(), done.Load(), time.Now()
		loaded := commandsPerSecond(t, client(), window)
		secs := time.Since(start).Seconds()
		loadedOwn := float64(sent.Load()-s0) / secs
		achieved := float64(done.Load()-d0) / secs
		stop()
		wg.Wait()
		t.Logf("known tenants %7d: idle: server %6.1f cmd/s, the process %6.1f cmd/s | %5.1f invalidations/s by another process: server %6.1f cmd/s, the process %6.1f cmd/s",
			n, idle, idleOwn, achieved, loaded, loadedOwn)
	}
}

// counter counts the commands a client sends, pipelined ones included.
type counter struct{ n *atomic.Int64 }

func (c counter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c counter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmd)
	}
}
func (c counter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.n.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

// learn makes ks know every tenant, as a process that served them.
func learn(t *testing.T, ks *cachekey.Keyspace, ids []string) {
	t.Helper()
	var wg sync.WaitGroup
	work := make(chan string)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range work {
				_, err := ks.Key(tenant.NewContext(context.Background(), tenant.Tenant{ID: id, Slug: "t"}), "x")
				require.NoError(t, err)
			}
		}()
	}
	for _, id := range ids {
		work <- id
	}
	close(work)
	wg.Wait()
}

func invalidate(ctx context.Context, ks *cachekey.Keyspace, ids []string, rate int, done *atomic.Int64) {
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			id := ids[(i*7919)%len(ids)]
			if ks.Invalidate(tenant.NewContext(ctx, tenant.Tenant{ID: id, Slug: "t"})) == nil {
				done.Add(1)
			}
		}
	}
}

// commandsPerSecond is the server's commands per second over d, from
// INFO commandstats, leaving out the INFO calls themselves.
func commandsPerSecond(t *testing.T, c *redis.Client, d time.Duration) float64 {
	t.Helper()
	before := totalCalls(t, c)
	start := time.Now()
	time.Sleep(d)
	after := totalCalls(t, c)
	return float64(after-before) / time.Since(start).Seconds()
}

func totalCalls(t *testing.T, c *redis.Client) int64 {
	t.Helper()
	info, err := c.Info(context.Background(), "commandstats").Result()
	require.NoError(t, err)
	var total int64
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") || name == "cmdstat_info" {
			continue
		}
		calls, _, _ := strings.Cut(strings.TrimPrefix(rest, "calls="), ",")
		v, err := strconv.ParseInt(calls, 10, 64)
		require.NoError(t, err, fmt.Sprintf("commandstats line %q", line))
		total += v
	}
	return total
}
