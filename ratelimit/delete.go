package ratelimit

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/redis/go-redis/v9"

	"github.com/tenantwall/tenantwall/internal/redisnodes"
	"github.com/tenantwall/tenantwall/tenant"
)

// redisKeyPrefix is what redis_rate puts before every key it stores.
const redisKeyPrefix = "rate:"

// deleteBatch is how many keys one SCAN step of DeleteTenant asks for.
const deleteBatch = 500

// DeleteTenant deletes every limit key of a tenant (its own and its
// users'), for tenant deletion, and returns how many it deleted. Keys
// expire by themselves once their burst has refilled; this leaves none
// naming a deleted tenant meanwhile. It scans with SCAN for the tenant's
// key prefix, which holds only that tenant's keys (the ID is a validated
// UUID and user IDs are escaped), on every node that can hold keys: the
// one server, every master of a cluster or every shard of a Ring,
// concurrently; each SCAN page is unlinked in one round trip on the node
// that holds it. A client of another type (a wrapper, an AutoPipeliner)
// is refused with ErrConfig, and a Ring with a shard out with ErrStore,
// rather than scanned in part.
func (s *RedisStore) DeleteTenant(ctx context.Context, tenantID string) (int64, error) {
	if err := tenant.ValidateID(tenantID); err != nil {
		return 0, err
	}
	if err := redisnodes.Check(s.c); err != nil {
		return 0, fmt.Errorf("%w: delete tenant: %w", ErrConfig, err)
	}
	pattern := redisKeyPrefix + keyPrefix + tenantID + ":*"
	_, cluster := s.c.(*redis.ClusterClient)
	// ForEach scans the nodes at once: the count is shared between
	// goroutines.
	var total atomic.Int64
	err := redisnodes.ForEach(ctx, s.c, func(ctx context.Context, c *redis.Client) error {
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
	})
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
