package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis returns a client for the test Redis server, closed when the test
// ends. Without a reachable server the test is skipped, or failed when
// services are required. Tests share the server: use random tenant IDs
// and never flush a database.
func Redis(t testing.TB) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(RedisURL())
	if err != nil {
		t.Fatalf("%s: %v", RedisEnv, err)
	}
	c := redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		Unavailable(t, "Redis at "+redact(RedisURL()), err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
