package cachekey_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/cachekey"
	"github.com/tenantwall/tenantwall/tenant"
	"github.com/tenantwall/tenantwall/tenant/tenanttest"
)

type getObserver struct {
	mu   sync.Mutex
	seen map[string][2]int // tenant ID → misses, hits
}

func (o *getObserver) CacheGet(ctx context.Context, hit bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	id, _ := tenant.IDFromContext(ctx)
	c := o.seen[id]
	if hit {
		c[1]++
	} else {
		c[0]++
	}
	o.seen[id] = c
}

func TestObserverSeesEachTenantsHitsAndMisses(t *testing.T) {
	ks, _ := openMemory(t)
	obs := &getObserver{seen: map[string][2]int{}}
	cache, err := cachekey.NewCache[string](ks, time.Hour, cachekey.WithObserver(obs))
	require.NoError(t, err)
	a, b := tenanttest.NewTenant("acme"), tenanttest.NewTenant("globex")
	load := func(context.Context) (string, error) { return "v", nil }
	for range 3 {
		_, err := cache.Get(ctxFor(a), []string{"k"}, load)
		require.NoError(t, err)
	}
	_, err = cache.Get(ctxFor(b), []string{"k"}, load)
	require.NoError(t, err)
	_, err = cache.Get(context.Background(), []string{"k"}, load)
	require.ErrorIs(t, err, tenant.ErrNoTenant)

	assert.Equal(t, map[string][2]int{a.ID: {1, 2}, b.ID: {1, 0}}, obs.seen, "a Get without a tenant is not observed")
	_, err = cachekey.NewCache[string](ks, time.Hour, cachekey.WithObserver(nil))
	assert.ErrorIs(t, err, cachekey.ErrConfig)
}
