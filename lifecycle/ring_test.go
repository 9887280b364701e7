package lifecycle_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/internal/testenv"
	"github.com/tenantwall/tenantwall/lifecycle"
	"github.com/tenantwall/tenantwall/tenant"
	"github.com/tenantwall/tenantwall/tenant/tenanttest"
)

// opaqueClient is a redis.UniversalClient of a type Verify does not know,
// around a Ring: a SCAN through it reaches one shard.
type opaqueClient struct{ redis.UniversalClient }

// On a Ring, Verify scans every shard: a key naming the deleted tenant is
// found whichever shard holds it, and keys of another tenant are not
// reported. A client whose nodes Verify cannot know is refused up front.
func TestVerifyOnARing(t *testing.T) {
	rr := testenv.StartRedisRing(t, 3)
	ring := rr.Client(t)
	ctx := context.Background()
	in := newSQLite(t)

	t.Run("finds the tenant's keys on every shard", func(t *testing.T) {
		m := in.manager(t, lifecycle.WithRedis(ring))
		gone, kept := tenanttest.NewTenant(tenanttest.RandomSlug("gone")), tenanttest.NewTenant(tenanttest.RandomSlug("kept"))
		var want []lifecycle.Finding
		var total int64
		for name, c := range rr.Shards(t) {
			byName := "leftover:" + name + ":{" + gone.ID + "}"
			byValue := "leftover:" + name + ":value"
			other := "leftover:" + name + ":" + kept.ID
			require.NoError(t, c.Set(ctx, byName, "x", time.Minute).Err())
			require.NoError(t, c.HSet(ctx, byValue, "owner", gone.ID).Err())
			require.NoError(t, c.Set(ctx, other, kept.ID, time.Minute).Err())
			want = append(want, lifecycle.Finding{Store: "redis", Where: byName, Match: "id in name"},
				lifecycle.Finding{Store: "redis", Where: byValue, Match: "id in value"})
			n, err := c.DBSize(ctx).Result()
			require.NoError(t, err)
			total += n
		}
		rep, err := m.Verify(platform, gone.ID, gone.Slug)
		require.NoError(t, err)
		assert.ElementsMatch(t, want, rep.Findings)
		assert.Equal(t, total, rep.RedisKeys, "every key of every shard is scanned once")
	})

	t.Run("a deleted tenant leaves nothing on any shard", func(t *testing.T) {
		in := newSQLiteOn(t, ring)
		gone, kept := in.seed(t, "gone", 2), in.seed(t, "kept", 2)
		for _, s := range []seeded{gone, kept} {
			tctx := tenant.NewContext(ctx, s.Tenant)
			for i := range 60 { // cache entries on every shard
				k, err := in.cache.Key(tctx, "item", fmt.Sprint(i))
				require.NoError(t, err)
				require.NoError(t, ring.Set(ctx, k, s.ID, time.Hour).Err())
			}
		}
		naming := func(id string) map[string]int {
			n := map[string]int{}
			for name, c := range rr.Shards(t) {
				keys, err := c.Keys(ctx, "*"+id+"*").Result()
				require.NoError(t, err)
				n[name] = len(keys)
			}
			return n
		}
		for name, n := range naming(gone.ID) {
			require.NotZero(t, n, "shard %s holds keys of the tenant", name)
		}
		keptBefore := naming(kept.ID)

		_, err := in.m.Schedule(platform, gone.ID)
		require.NoError(t, err)
		in.now = in.now.Add(time.Hour + time.Second)
		rec, err := in.m.Delete(platform, gone.ID, false)
		require.NoError(t, err)
		assert.Empty(t, rec.Verified.Findings)
		for name, n := range naming(gone.ID) {
			assert.Zero(t, n, "keys naming the deleted tenant left on shard %s", name)
		}
		assert.Equal(t, keptBefore, naming(kept.ID), "the other tenant's keys stay")
		_, found, err := in.sessions.Find(ctx, kept.session)
		require.NoError(t, err)
		assert.True(t, found, "the other tenant's session stays")
	})

	t.Run("a client of an unknown type is refused", func(t *testing.T) {
		_, err := lifecycle.New(in.tenants, in.db, in.dialect, lifecycle.WithRedis(opaqueClient{ring}))
		assert.ErrorIs(t, err, lifecycle.ErrConfig)
	})
}
