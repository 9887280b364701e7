package cachekey_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/cachekey"
	"github.com/tenantwall/tenantwall/internal/testenv"
	"github.com/tenantwall/tenantwall/tenant"
	"github.com/tenantwall/tenantwall/tenant/tenanttest"
)

func TestForgetDeletesOnlyTheGenerationCounter(t *testing.T) {
	client := testenv.Redis(t)
	for _, hashTags := range []bool{false, true} {
		t.Run(fmt.Sprintf("hash tags %v", hashTags), func(t *testing.T) {
			ks := newKeyspace(t, client, cachekey.WithHashTags(hashTags))
			gone, kept := tenanttest.NewTenant(tenanttest.RandomSlug("gone")), tenanttest.NewTenant(tenanttest.RandomSlug("kept"))
			purgeAfter(t, ks, gone.ID, kept.ID)
			ctx := context.Background()
			for _, tt := range []tenant.Tenant{gone, kept} {
				require.NoError(t, ks.Invalidate(ctxFor(tt)), "makes the counter")
			}
			require.EqualValues(t, 1, client.Exists(ctx, cachekey.GenKey(ks, gone.ID)).Val())

			_, err := ks.Forget(ctx, gone.ID)
			assert.ErrorIs(t, err, tenant.ErrNoTenant, "forgetting is platform work")
			pctx, _ := tenant.WithPlatformScope(ctx, "tenant deleted")
			found, err := ks.Forget(pctx, gone.ID)
			require.NoError(t, err)
			assert.True(t, found)
			assert.Zero(t, client.Exists(ctx, cachekey.GenKey(ks, gone.ID)).Val(), "the counter is gone")
			assert.EqualValues(t, 1, client.Exists(ctx, cachekey.GenKey(ks, kept.ID)).Val(), "another tenant's counter stays")
			found, err = ks.Forget(pctx, gone.ID)
			require.NoError(t, err)
			assert.False(t, found, "nothing left the second time")
			_, err = ks.Forget(pctx, "not-an-id")
			assert.ErrorIs(t, err, tenant.ErrInvalidID)
		})
	}
}
