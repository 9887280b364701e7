package cachekey_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/cachekey"
	"github.com/tenantwall/tenantwall/internal/testenv"
	"github.com/tenantwall/tenantwall/tenant"
	"github.com/tenantwall/tenantwall/tenant/tenanttest"
)

// opaqueClient is a redis.UniversalClient of a type the Keyspace does not
// know, around a Ring: a SCAN through it reaches one shard.
type opaqueClient struct{ redis.UniversalClient }

// On a Ring the keys of a tenant are spread over the shards by their hash
// (without hash tags) or all on one (with them): Purge and Forget, the
// deletion of a tenant for good, leave no key naming it on any shard, and
// every key of another tenant stays.
func TestPurgeAndForgetOnARing(t *testing.T) {
	rr := testenv.StartRedisRing(t, 3)
	ring := rr.Client(t)
	shards := rr.Shards(t)
	ctx := context.Background()
	pctx, _ := tenant.WithPlatformScope(ctx, "tenant deleted")
	const entries = 300
	// naming counts, per shard, the keys whose name contains id.
	naming := func(t *testing.T, id string) map[string]int {
		t.Helper()
		n := map[string]int{}
		for name, c := range shards {
			keys, err := c.Keys(ctx, "*"+id+"*").Result()
			require.NoError(t, err)
			n[name] = len(keys)
		}
		return n
	}
	fill := func(t *testing.T, ks *cachekey.Keyspace, tts ...tenant.Tenant) {
		t.Helper()
		for _, tt := range tts {
			require.NoError(t, ks.Invalidate(ctxFor(tt)), "makes the generation counter")
			for i := range entries {
				k, err := ks.Key(ctxFor(tt), "item", fmt.Sprint(i))
				require.NoError(t, err)
				require.NoError(t, ring.Set(ctx, k, "v", time.Hour).Err())
			}
		}
	}
	for _, hashTags := range []bool{false, true} {
		t.Run(fmt.Sprintf("hash tags %v", hashTags), func(t *testing.T) {
			ks := newKeyspace(t, ring, cachekey.WithHashTags(hashTags), cachekey.WithPrefix(testenv.Name("ck")))
			gone, kept := tenanttest.NewTenant(tenanttest.RandomSlug("gone")), tenanttest.NewTenant(tenanttest.RandomSlug("kept"))
			fill(t, ks, gone, kept)
			if !hashTags {
				for name, n := range naming(t, gone.ID) {
					require.NotZero(t, n, "shard %s holds keys of the tenant", name)
				}
			}

			n, err := ks.Purge(pctx, gone.ID)
			require.NoError(t, err)
			assert.EqualValues(t, entries, n, "every key of the namespace is counted once")
			_, err = ks.Forget(pctx, gone.ID)
			require.NoError(t, err)
			for name, n := range naming(t, gone.ID) {
				assert.Zero(t, n, "keys naming the deleted tenant left on shard %s", name)
			}
			total := 0
			for _, n := range naming(t, kept.ID) {
				total += n
			}
			assert.Equal(t, entries+1, total, "the other tenant's keys and its counter stay")
			k, err := ks.Key(ctxFor(kept), "item", "0")
			require.NoError(t, err)
			assert.EqualValues(t, 1, ring.Exists(ctx, k).Val(), "the other tenant's keys are still its current ones")
		})
	}

	t.Run("another process sees an invalidation", func(t *testing.T) {
		prefix := testenv.Name("ck")
		ks := newKeyspace(t, ring, cachekey.WithPrefix(prefix))
		var tts []tenant.Tenant
		for range 6 {
			tt := tenanttest.NewTenant(tenanttest.RandomSlug("t"))
			tts = append(tts, tt)
			purgeAfter(t, ks, tt.ID)
			require.NoError(t, ks.Invalidate(ctxFor(tt)))
		}
		fresh := newKeyspace(t, ring, cachekey.WithPrefix(prefix))
		for _, tt := range tts {
			want, err := ks.Key(ctxFor(tt), "item")
			require.NoError(t, err)
			got, err := fresh.Key(ctxFor(tt), "item")
			require.NoError(t, err)
			assert.Equal(t, want, got, "a process that reads the generation from Redis uses the invalidated one")
		}
	})

	t.Run("a client of an unknown type is refused", func(t *testing.T) {
		ks := newKeyspace(t, opaqueClient{ring}, cachekey.WithPrefix(testenv.Name("ck")))
		gone := tenanttest.NewTenant(tenanttest.RandomSlug("gone"))
		_, err := ks.Purge(pctx, gone.ID)
		assert.ErrorIs(t, err, cachekey.ErrConfig)
	})
}
