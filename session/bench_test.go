package session_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tenantwall/tenantwall/internal/testenv"
	"github.com/tenantwall/tenantwall/session"
	"github.com/tenantwall/tenantwall/tenant"
)

// BenchmarkRedisLoad loads a session from the Redis store (one GET) beside
// a plain go-redis GET of a value of the same size.
func BenchmarkRedisLoad(b *testing.B) {
	client := testenv.Redis(b)
	store, _ := session.NewRedisStore(client, testenv.Name("twsessbench"))
	ctx := context.Background()
	id := tenant.NewID()
	h := session.Hash(id)
	now := time.Now()
	if err := store.Create(ctx, h, session.Record{TenantID: id, UserID: "alice", Created: now, LastSeen: now, Deadline: now.Add(time.Hour)}, time.Minute); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = store.DeleteTenant(context.Background(), id) })
	plainKey := testenv.Name("twsessbench-plain")
	if err := client.Set(ctx, plainKey, make([]byte, 200), time.Minute).Err(); err != nil {
		b.Fatal(err)
	}
	b.Run("impl=redis-get", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := client.Get(ctx, plainKey).Err(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=session-find", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, found, err := store.Find(ctx, h); err != nil || !found {
				b.Fatal(found, err)
			}
		}
	})
}

// BenchmarkRedisDeleteTenantOnCluster ends a tenant's sessions (three,
// of two users) on a Redis Cluster of three primaries that hold 30,000
// other keys, and reports the SCAN commands sent per deletion.
func BenchmarkRedisDeleteTenantOnCluster(b *testing.B) {
	rc := testenv.StartRedisCluster(b)
	var scans atomic.Int64
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: rc.Addrs()})
	cc.OnNewNode(func(c *redis.Client) { c.AddHook(countScans{&scans}) })
	b.Cleanup(func() { cc.Close() })
	ctx := context.Background()
	for i := 0; i < 30_000; i += 1000 {
		_, err := cc.Pipelined(ctx, func(p redis.Pipeliner) error {
			for j := i; j < i+1000; j++ {
				p.Set(ctx, "twsessbench-fill:"+strconv.Itoa(j), "x", time.Hour)
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	store, err := session.NewRedisStore(cc, testenv.Name("twsessbench"))
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	scans.Store(0)
	for range b.N {
		b.StopTimer()
		id := tenant.NewID()
		for _, user := range []string{"alice", "bob", "bob"} {
			rec := session.Record{TenantID: id, UserID: user, Created: now, LastSeen: now, Deadline: now.Add(time.Hour)}
			if err := store.Create(ctx, session.Hash(tenant.NewID()), rec, time.Hour); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		if err := store.DeleteTenant(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(scans.Load())/float64(b.N), "scans/op")
}

// countScans counts the SCAN commands a client sends.
type countScans struct{ n *atomic.Int64 }

func (h countScans) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h countScans) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() == "scan" {
			h.n.Add(1)
		}
		return next(ctx, cmd)
	}
}
func (h countScans) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
