package ratelimit

import (
	"context"
	"fmt"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// RedisStore is the GCRA in Redis through github.com/go-redis/redis_rate:
// one Lua script per decision, reading and writing one key (so it is safe
// on Redis Cluster), timed by the Redis server's clock, so every instance
// of a service shares each limit. Keys are stored under redis_rate's
// "rate:" prefix and expire once their burst has refilled. Safe for
// concurrent use; it does not close the client.
//
// The script is sent with EVALSHA: a client fenced by cachekey's Guard
// refuses it, so give the store a client of its own.
type RedisStore struct {
	l *redis_rate.Limiter
}

// NewRedisStore returns a RedisStore on c.
func NewRedisStore(c redis.UniversalClient) (*RedisStore, error) {
	if c == nil {
		return nil, fmt.Errorf("%w: nil Redis client", ErrConfig)
	}
	return &RedisStore{l: redis_rate.NewLimiter(c)}, nil
}

// AllowN implements Store.
func (s *RedisStore) AllowN(ctx context.Context, key string, l Limit, n int) (Result, error) {
	if err := l.check(n); err != nil {
		return Result{}, err
	}
	r, err := s.l.AllowN(ctx, key, redis_rate.Limit{Rate: l.Rate, Burst: l.Burst, Period: l.Period}, n)
	if err != nil {
		return Result{}, fmt.Errorf("%w: %w", ErrStore, err)
	}
	res := Result{Allowed: r.Allowed > 0, Remaining: max(r.Remaining, 0), ResetAfter: max(r.ResetAfter, 0)}
	if !res.Allowed {
		res.RetryAfter = max(r.RetryAfter, 0)
	}
	return res, nil
}
