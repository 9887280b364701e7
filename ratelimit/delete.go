package ratelimit

import (
	"context"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/tenantwall/tenantwall/tenant"
)

// redisKeyPrefix is what redis_rate puts before every key it stores.
const redisKeyPrefix = "rate:"

// DeleteTenant deletes every limit key of a tenant (its own and its
// users'), for tenant deletion, and returns how many it deleted. Keys
// expire by themselves once their burst has refilled; this leaves none
// naming a deleted tenant meanwhile. It scans with SCAN (every master of a
// cluster) for the tenant's key prefix, which holds only that tenant's
// keys: the ID is a validated UUID and user IDs are escaped.
func (s *RedisStore) DeleteTenant(ctx context.Context, tenantID string) (int64, error) {
	if err := tenant.ValidateID(tenantID); err != nil {
		return 0, err
	}
	pattern := redisKeyPrefix + keyPrefix + tenantID + ":*"
	var total int64
	scan := func(ctx context.Context, c redis.UniversalClient) error {
		var cursor uint64
		for {
			keys, next, err := c.Scan(ctx, cursor, pattern, 500).Result()
			if err != nil {
				return err
			}
			for _, k := range keys {
				// One command each: on a cluster the keys span slots.
				n, err := c.Unlink(ctx, k).Result()
				if err != nil {
					return err
				}
				total += n
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
		return total, fmt.Errorf("%w: delete tenant: %w", ErrStore, err)
	}
	return total, nil
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
