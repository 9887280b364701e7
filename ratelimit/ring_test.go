package ratelimit_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/internal/testenv"
	"github.com/tenantwall/tenantwall/ratelimit"
	"github.com/tenantwall/tenantwall/tenant"
)

// opaqueClient is a redis.UniversalClient of a type the store does not
// know, around a Ring: a SCAN through it reaches one shard.
type opaqueClient struct{ redis.UniversalClient }

// On a Ring a tenant's keys are spread over the shards by their hash:
// DeleteTenant deletes them on every shard, and none of another tenant's.
// A client whose nodes the store cannot know, or a Ring with a shard out,
// is refused rather than half scanned.
func TestRedisDeleteTenantOnARing(t *testing.T) {
	rr := testenv.StartRedisRing(t, 3)
	ring := rr.Client(t)
	shards := rr.Shards(t)
	ctx := context.Background()
	const users = 300
	fill := func(t *testing.T, store *ratelimit.RedisStore, ids ...string) {
		t.Helper()
		limit := ratelimit.Limit{Rate: 1, Burst: 1, Period: time.Minute}
		for _, id := range ids {
			for i := range users {
				key, err := ratelimit.UserKey(id, fmt.Sprint("u", i))
				require.NoError(t, err)
				require.NoError(t, ring.Set(ctx, "rate:"+key, "1", time.Minute).Err())
			}
			_, err := store.AllowN(ctx, tenantKey(t, id), limit, 1)
			require.NoError(t, err)
		}
	}
	count := func(t *testing.T, id string) map[string]int {
		t.Helper()
		n := map[string]int{}
		for name, c := range shards {
			n[name] = len(redisKeys(t, c, "rate:tw:rl:"+id+":*"))
		}
		return n
	}

	t.Run("DeleteTenant leaves no key of the tenant on any shard", func(t *testing.T) {
		store, err := ratelimit.NewRedisStore(ring)
		require.NoError(t, err)
		gone, kept := tenant.NewID(), tenant.NewID()
		fill(t, store, gone, kept)
		for name, n := range count(t, gone) {
			require.NotZero(t, n, "shard %s holds keys of the tenant", name)
		}
		n, err := store.DeleteTenant(ctx, gone)
		require.NoError(t, err)
		assert.EqualValues(t, users+1, n, "every key of the tenant is counted once")
		for name, n := range count(t, gone) {
			assert.Zero(t, n, "keys of the deleted tenant left on shard %s", name)
		}
		total := 0
		for _, n := range count(t, kept) {
			total += n
		}
		assert.Equal(t, users+1, total, "the other tenant's keys stay")
	})

	t.Run("a client of an unknown type is refused", func(t *testing.T) {
		store, err := ratelimit.NewRedisStore(opaqueClient{ring})
		require.NoError(t, err)
		gone := tenant.NewID()
		fill(t, store, gone)
		_, err = store.DeleteTenant(ctx, gone)
		assert.ErrorIs(t, err, ratelimit.ErrConfig)
		before := 0
		for _, n := range count(t, gone) {
			before += n
		}
		assert.Equal(t, users+1, before, "nothing was deleted")
		direct, err := ratelimit.NewRedisStore(ring)
		require.NoError(t, err)
		_, err = direct.DeleteTenant(ctx, gone)
		require.NoError(t, err)
	})

	t.Run("a Ring with a shard out is refused", func(t *testing.T) {
		store, err := ratelimit.NewRedisStore(ring)
		require.NoError(t, err)
		gone := tenant.NewID()
		fill(t, store, gone)
		rr.Server("b").Kill()
		require.Eventually(t, func() bool { return ring.Len() == 2 }, 5*time.Second, 20*time.Millisecond,
			"the Ring takes the stopped shard out")
		_, err = store.DeleteTenant(ctx, gone)
		assert.ErrorIs(t, err, ratelimit.ErrStore)
	})
}
