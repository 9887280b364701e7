package ratelimit_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/internal/testenv"
	"github.com/tenantwall/tenantwall/ratelimit"
	"github.com/tenantwall/tenantwall/tenant"
)

// tenantDeleter is what DeleteTenant gives both stores.
type tenantDeleter interface {
	ratelimit.Store
	DeleteTenant(ctx context.Context, tenantID string) (int64, error)
}

func TestDeleteTenantRemovesOnlyThatTenantsKeys(t *testing.T) {
	mem, err := ratelimit.NewMemoryStore()
	require.NoError(t, err)
	rs, err := ratelimit.NewRedisStore(testenv.Redis(t))
	require.NoError(t, err)
	for name, store := range map[string]tenantDeleter{"memory": mem, "redis": rs} {
		t.Run("on "+name, func(t *testing.T) {
			ctx := context.Background()
			gone, kept := tenant.NewID(), tenant.NewID()
			policy := func(context.Context, tenant.Tenant) (ratelimit.Policy, error) {
				return ratelimit.Policy{Tenant: ratelimit.Limit{Rate: 10, Burst: 10, Period: time.Minute},
					User: ratelimit.Limit{Rate: 1, Burst: 1, Period: time.Minute}}, nil
			}
			lim, err := ratelimit.New(store, policy)
			require.NoError(t, err)
			for _, id := range []string{gone, kept} {
				tctx := tenant.NewContext(ctx, tenant.Tenant{ID: id, Slug: "t", Name: "T", Status: tenant.StatusActive})
				for _, user := range []string{"u1", "u:2"} {
					d, err := lim.Allow(tctx, user)
					require.NoError(t, err)
					require.True(t, d.Allowed)
				}
			}
			n, err := store.DeleteTenant(ctx, gone)
			require.NoError(t, err)
			assert.EqualValues(t, 3, n, "the tenant's key and its two users'")
			n, err = store.DeleteTenant(ctx, gone)
			require.NoError(t, err)
			assert.Zero(t, n)
			tctx := tenant.NewContext(ctx, tenant.Tenant{ID: kept, Slug: "t", Name: "T", Status: tenant.StatusActive})
			d, err := lim.Allow(tctx, "u1")
			require.NoError(t, err)
			assert.False(t, d.Allowed, "the other tenant's limits are kept")
			t.Cleanup(func() { _, _ = store.DeleteTenant(context.Background(), kept) })
			_, err = store.DeleteTenant(ctx, "*")
			assert.ErrorIs(t, err, tenant.ErrInvalidID)
		})
	}
}

// TestRedisDeleteTenantOverManyKeys deletes more keys than one SCAN page
// holds, on one Redis and on a Redis Cluster, whose primaries are scanned
// at once (run with -race): the count is exact and no key of the tenant
// remains, while the other tenant's keys stay.
func TestRedisDeleteTenantOverManyKeys(t *testing.T) {
	cluster := testenv.StartRedisCluster(t)
	for name, client := range map[string]redis.UniversalClient{
		"one Redis": testenv.Redis(t), "a Redis Cluster": cluster.Client(t)} {
		t.Run("on "+name, func(t *testing.T) {
			ctx := context.Background()
			store, err := ratelimit.NewRedisStore(client)
			require.NoError(t, err)
			gone, kept := tenant.NewID(), tenant.NewID()
			t.Cleanup(func() { _, _ = store.DeleteTenant(context.Background(), kept) })
			const users = 1200
			limit := ratelimit.Limit{Rate: 1, Burst: 1, Period: time.Minute}
			for _, id := range []string{gone, kept} {
				_, err := client.Pipelined(ctx, func(p redis.Pipeliner) error {
					for i := range users {
						key, err := ratelimit.UserKey(id, fmt.Sprint("u", i))
						require.NoError(t, err)
						p.Set(ctx, "rate:"+key, "1", time.Minute)
					}
					return nil
				})
				require.NoError(t, err)
				_, err = store.AllowN(ctx, tenantKey(t, id), limit, 1)
				require.NoError(t, err)
			}
			n, err := store.DeleteTenant(ctx, gone)
			require.NoError(t, err)
			assert.EqualValues(t, users+1, n, "every key of the tenant is counted once")
			assert.Empty(t, redisKeys(t, client, "rate:tw:rl:"+gone+":*"), "no key of the tenant remains")
			assert.Len(t, redisKeys(t, client, "rate:tw:rl:"+kept+":*"), users+1, "the other tenant's keys stay")
		})
	}
}

func tenantKey(t *testing.T, id string) string {
	t.Helper()
	k, err := ratelimit.TenantKey(id)
	require.NoError(t, err)
	return k
}

// redisKeys returns the keys matching pattern, on every primary of a
// cluster.
func redisKeys(t *testing.T, c redis.UniversalClient, pattern string) []string {
	t.Helper()
	var mu sync.Mutex
	var keys []string
	scan := func(ctx context.Context, c redis.UniversalClient) error {
		var found []string
		iter := c.Scan(ctx, 0, pattern, 500).Iterator()
		for iter.Next(ctx) {
			found = append(found, iter.Val())
		}
		mu.Lock()
		keys = append(keys, found...)
		mu.Unlock()
		return iter.Err()
	}
	var err error
	if cc, ok := c.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(context.Background(), func(ctx context.Context, c *redis.Client) error { return scan(ctx, c) })
	} else {
		err = scan(context.Background(), c)
	}
	require.NoError(t, err)
	return keys
}
