package cachekey_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/cachekey"
	"github.com/tenantwall/tenantwall/tenant"
	"github.com/tenantwall/tenantwall/tenant/tenanttest"
)

func TestMemorySizeCap(t *testing.T) {
	const maxBytes = 64 << 10
	ks, _ := openMemory(t, cachekey.WithMaxBytes(maxBytes))
	cache := newCache(t, ks, time.Hour)
	a := tenanttest.NewTenant("acme")
	ctx := ctxFor(a)
	var calls atomic.Int64
	value := func(ctx context.Context) (string, error) {
		calls.Add(1)
		return strings.Repeat("v", 200), nil
	}

	t.Run("the entries never take more than the bound", func(t *testing.T) {
		for i := range 5000 {
			_, err := cache.Get(ctx, []string{"item", fmt.Sprint(i)}, value)
			require.NoError(t, err)
			bytes, _ := cachekey.MemoryUsage(ks)
			require.LessOrEqual(t, bytes, int64(maxBytes), "after %d entries", i+1)
		}
		_, n := cachekey.MemoryUsage(ks)
		assert.Less(t, n, 5000, "nothing was dropped")
		assert.Greater(t, n, 100, "far more was dropped than the bound needs")
	})
	t.Run("the oldest entries go first", func(t *testing.T) {
		_, err := cache.Get(ctx, []string{"item", "4999"}, noLoadValue)
		assert.NoError(t, err, "the newest entry was dropped")
		before := calls.Load()
		_, err = cache.Get(ctx, []string{"item", "0"}, value)
		require.NoError(t, err)
		assert.Equal(t, before+1, calls.Load(), "the oldest entry was kept")
	})
	t.Run("an entry larger than a shard's share is not kept", func(t *testing.T) {
		huge := func(context.Context) (string, error) { calls.Add(1); return strings.Repeat("h", maxBytes), nil }
		before := calls.Load()
		for range 2 {
			v, err := cache.Get(ctx, []string{"huge"}, huge)
			require.NoError(t, err)
			assert.Len(t, v, maxBytes)
		}
		assert.Equal(t, before+2, calls.Load())
		bytes, _ := cachekey.MemoryUsage(ks)
		assert.LessOrEqual(t, bytes, int64(maxBytes))
	})
	t.Run("deleting and replacing entries gives their bytes back", func(t *testing.T) {
		ks, _ := openMemory(t)
		cache := newCache(t, ks, time.Hour)
		for i := range 10 {
			_, err := cache.Get(ctx, []string{fmt.Sprint(i)}, value)
			require.NoError(t, err)
		}
		full, n := cachekey.MemoryUsage(ks)
		require.Equal(t, 10, n)
		require.NoError(t, ks.Invalidate(ctx))
		for i := range 10 {
			require.NoError(t, cache.Delete(ctx, fmt.Sprint(i))) // entries of the new generation: none
		}
		bytes, _ := cachekey.MemoryUsage(ks)
		assert.Equal(t, full, bytes, "deleting absent entries changed the count")
		pctx, _ := tenant.WithPlatformScope(context.Background(), "test")
		_, err := ks.Purge(pctx, a.ID)
		require.NoError(t, err)
		bytes, n = cachekey.MemoryUsage(ks)
		assert.Zero(t, bytes)
		assert.Zero(t, n)
	})
}

func noLoadValue(context.Context) (string, error) { return "", fmt.Errorf("must be a hit") }

func TestMemoryExpiredEntriesAreFreed(t *testing.T) {
	ks, clk := openMemory(t)
	cache := newCache(t, ks, time.Minute)
	ctx := ctxFor(tenanttest.NewTenant("acme"))
	var calls atomic.Int64
	for i := range 1000 {
		_, err := cache.Get(ctx, []string{"old", fmt.Sprint(i)}, loader(&calls, "v"))
		require.NoError(t, err)
	}
	clk.advance(time.Minute)
	// No entry is read again: writes alone must free the expired ones
	// (1000 writes reach every shard).
	for i := range 1000 {
		_, err := cache.Get(ctx, []string{"new", fmt.Sprint(i)}, loader(&calls, "v"))
		require.NoError(t, err)
	}
	_, n := cachekey.MemoryUsage(ks)
	assert.Equal(t, 1000, n, "expired entries are still held")
}

// TestMemoryGenerationSurvivesEviction: the generation cache is bounded,
// and a memory Keyspace has nowhere to re-read a dropped generation from.
// A tenant dropped after an invalidation must not come back at a
// generation whose entries are stale.
func TestMemoryGenerationSurvivesEviction(t *testing.T) {
	for _, invalidations := range []int{0, 1, 3} {
		t.Run(fmt.Sprintf("after %d invalidations", invalidations), func(t *testing.T) {
			ks, _ := openMemory(t)
			cachekey.SetMaxTenants(ks, 2)
			cache := newCache(t, ks, time.Hour)
			a := tenanttest.NewTenant("acme")
			var calls atomic.Int64
			_, err := cache.Get(ctxFor(a), []string{"x"}, loader(&calls, "stale"))
			require.NoError(t, err)
			for range invalidations {
				require.NoError(t, ks.Invalidate(ctxFor(a)))
			}
			if invalidations > 0 {
				// The other tenants' bumps raise what an evicted tenant
				// comes back at; the victim's own must still count.
				require.NoError(t, ks.Invalidate(ctxFor(tenanttest.NewTenant("b"))))
			}
			for i := 0; cachekey.GenerationCached(ks, a.ID); i++ {
				require.Less(t, i, 10000, "the tenant was never evicted")
				_, err := ks.Key(ctxFor(tenanttest.NewTenant(fmt.Sprint("o", i))), "x")
				require.NoError(t, err)
			}
			v, err := cache.Get(ctxFor(a), []string{"x"}, loader(&calls, "fresh"))
			require.NoError(t, err)
			if invalidations == 0 {
				assert.Contains(t, []string{a.ID + "|stale", a.ID + "|fresh"}, v)
				return
			}
			assert.Equal(t, a.ID+"|fresh", v, "an entry invalidated before the eviction was served")
		})
	}
}

func TestMemoryKeyspaceRefusesWhatItCannotDo(t *testing.T) {
	ks, _ := openMemory(t)
	_, err := ks.Guard()
	assert.ErrorIs(t, err, cachekey.ErrConfig, "a memory keyspace has no Redis client to guard")
	for _, n := range []int64{0, -1} {
		_, err := cachekey.NewMemory(cachekey.WithMaxBytes(n))
		assert.ErrorIs(t, err, cachekey.ErrConfig, "max bytes %d", n)
	}
	_, err = cachekey.NewMemory(cachekey.WithMemoryAuditor(nil))
	assert.NoError(t, err, "a nil auditor means the default")
	assert.NoError(t, ks.Close())
	assert.NoError(t, ks.Close(), "Close twice")
}
