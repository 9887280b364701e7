package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisRing is a go-redis Ring's shards for a test: redis-servers of the
// test's own on free loopback ports (see StartRedisServer), named "a",
// "b", "c"… They are killed when the test ends.
type RedisRing struct {
	servers map[string]*RedisServer
}

// StartRedisRing starts a RedisRing of n shards. Without redis-server on
// PATH the test is skipped, or failed when services are required.
func StartRedisRing(t testing.TB, n int) *RedisRing {
	t.Helper()
	r := &RedisRing{servers: map[string]*RedisServer{}}
	for i := range n {
		r.servers[string(rune('a'+i))] = StartRedisServer(t)
	}
	return r
}

// Addrs maps each shard's name to its host:port, as RingOptions.Addrs.
func (r *RedisRing) Addrs() map[string]string {
	addrs := make(map[string]string, len(r.servers))
	for name, s := range r.servers {
		addrs[name] = s.Addr()
	}
	return addrs
}

// Server returns the shard named name, to stop or restart it.
func (r *RedisRing) Server(name string) *RedisServer { return r.servers[name] }

// Client returns a Ring over every shard, closed when the test ends. Its
// heartbeat runs every 100 ms, so a stopped shard is taken out of the
// ring within half a second.
func (r *RedisRing) Client(t testing.TB) *redis.Ring {
	t.Helper()
	ring := redis.NewRing(&redis.RingOptions{Addrs: r.Addrs(), HeartbeatFrequency: 100 * time.Millisecond})
	t.Cleanup(func() { ring.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ring.ForEachShard(ctx, func(ctx context.Context, c *redis.Client) error { return c.Ping(ctx).Err() }); err != nil {
		t.Fatalf("redis ring: %v", err)
	}
	return ring
}

// Shards returns a client for each shard, by name, closed when the test
// ends: to see what each holds, whatever the Ring's hashing.
func (r *RedisRing) Shards(t testing.TB) map[string]*redis.Client {
	t.Helper()
	cs := make(map[string]*redis.Client, len(r.servers))
	for name, s := range r.servers {
		c := redis.NewClient(&redis.Options{Addr: s.Addr()})
		t.Cleanup(func() { c.Close() })
		cs[name] = c
	}
	return cs
}
