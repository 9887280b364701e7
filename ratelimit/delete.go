package ratelimit

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/redis/go-redis/v9"

	"github.com/tenantwall/tenantwall/tenant"
)

// redisKeyPrefix is what redis_rate puts before every key it stores.
const redisKeyPrefix = "rate:"

// deleteBatch is how many keys one SCAN step of DeleteTenant asks for.
const deleteBatch = 500

// DeleteTenant deletes every limit key of a tenant (its own and its
// users'), for tenant deletion, and returns how many it deleted. Keys
// expire by themselves once their burst has refilled; this leaves none
// naming a deleted tenant meanwhile. It scans with SCAN (every master of a
// cluster, concurrently) for the tenant's key prefix, which holds only that
// tenant's keys: the ID is a validated UUID and user IDs are escaped; each
// SCAN page is unlinked in one round trip.
func (s *RedisStore) DeleteTenant(ctx context.Context, tenantID string) (int64, error) {
	if err := tenant.ValidateID(tenantID); err != nil {
		return 0, err
	}
	pattern := redisKeyPrefix + keyPrefix + tenantID + ":*"
	_, cluster := s.c.(*redis.ClusterClient)
	// ForEachMaster runs scan on every primary at once: the count is
	// shared between goroutines.
	var total atomic.Int64
	scan := func(ctx context.Context, c redis.UniversalClient) error {
		var cursor uint64
		for {
			keys, next, err := c.Scan(ctx, cursor, pattern, deleteBatch).Result()
			if err != nil {
				return err
			}
			if len(keys) > 0 {
				n, err := unlink(ctx, c, keys, cluster)
				total.Add(n)
				if err != nil {
					return err
				}
			}
			if next == 0 {
				return nil
			}
			cursor = next
		}
	}
	var err error
	if cc, ok := s.c.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return scan(ctx, c) })
	} else {
		err = scan(ctx, s.c)
	}
	if err != nil {
		return total.Load(), fmt.Errorf("%w: delete tenant: %w", ErrStore, err)
	}
	return total.Load(), nil
}

// unlink drops one SCAN page of keys in one round trip: one UNLINK, or on
// a cluster, where the page's keys span slots, one UNLINK each, pipelined.
func unlink(ctx context.Context, c redis.UniversalClient, keys []string, cluster bool) (int64, error) {
	if !cluster {
		return c.Unlink(ctx, keys...).Result()
	}
	var total int64
	cmds, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range keys {
			p.Unlink(ctx, k)
		}
		return nil
	})
	for _, cmd := range cmds {
		if ic, ok := cmd.(*redis.IntCmd); ok {
			total += ic.Val()
		}
	}
	return total, err
}

// DeleteTenant deletes every limit key of a tenant from memory and
// returns how many it deleted.
func (s *MemoryStore) DeleteTenant(_ context.Context, tenantID string) (int64, error) {
	if err := tenant.ValidateID(tenantID); err != nil {
		return 0, err
	}
	prefix := keyPrefix + tenantID + ":"
	var n int64
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for k := range sh.tat {
			if strings.HasPrefix(k, prefix) {
				delete(sh.tat, k)
				n++
			}
		}
		sh.mu.Unlock()
	}
	return n, nil
}
