package ratelimit_test

import (
	"context"
	"testing"
	"time"

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
