package sqlstore_test

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gocloud.dev/secrets/localsecrets"

	"github.com/tenantwall/tenantwall/credentials"
	"github.com/tenantwall/tenantwall/tenant"
	"github.com/tenantwall/tenantwall/tenant/tenanttest"
)

// TestCryptoShredding takes a "backup" of a tenant's credential rows,
// deletes the tenant, restores the rows and checks they no longer open,
// while another tenant's credentials still do.
func TestCryptoShredding(t *testing.T) {
	for _, e := range engines() {
		t.Run("on "+e.name, func(t *testing.T) {
			ctx := context.Background()
			s, _ := newStore(t, e)
			key, err := localsecrets.NewRandomKey()
			require.NoError(t, err)
			keeper := localsecrets.NewKeeper(key)
			v, err := credentials.New(keeper, s, credentials.WithDataKeys(s))
			require.NoError(t, err)

			gone, kept := tenanttest.NewTenant(tenanttest.RandomSlug("gone")), tenanttest.NewTenant(tenanttest.RandomSlug("kept"))
			goneCtx, keptCtx := tenant.NewContext(ctx, gone), tenant.NewContext(ctx, kept)
			_, err = v.Set(goneCtx, "openai", "sk-gone-1")
			require.NoError(t, err)
			_, err = v.Set(goneCtx, "openai", "sk-gone-2")
			require.NoError(t, err)
			_, err = v.Set(keptCtx, "openai", "sk-kept")
			require.NoError(t, err)

			backup, err := s.Rows(ctx, gone.ID, "openai")
			require.NoError(t, err)
			require.Len(t, backup, 2)
			for _, r := range backup {
				require.True(t, strings.HasPrefix(string(r.Ciphertext), "dk1:"), "sealed under the data key")
				ct, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(string(r.Ciphertext), "dk1:"))
				require.NoError(t, err)
				_, err = keeper.Decrypt(ctx, ct)
				require.Error(t, err, "the keeper alone cannot open a row sealed under a data key")
			}

			_, err = v.DeleteTenant(goneCtx, gone.ID)
			require.ErrorIs(t, err, tenant.ErrNoTenant, "deleting needs the platform scope")

			pctx, err := tenant.WithPlatformScope(ctx, "test: delete tenant")
			require.NoError(t, err)
			d, err := v.DeleteTenant(pctx, gone.ID)
			require.NoError(t, err)
			assert.Equal(t, credentials.Deleted{Rows: 2, DataKey: true}, d)
			_, err = v.Get(goneCtx, "openai")
			assert.ErrorIs(t, err, credentials.ErrNoCredential, "the rows are gone")

			// Restore the backup: the rows come back, the key does not.
			for _, r := range backup {
				require.NoError(t, s.Put(ctx, r))
			}
			_, err = v.Get(goneCtx, "openai")
			assert.ErrorIs(t, err, credentials.ErrShredded, "a restored row cannot be opened")
			_, err = v.GetVersion(goneCtx, "openai", 1)
			assert.ErrorIs(t, err, credentials.ErrShredded)

			sec, err := v.Get(keptCtx, "openai")
			require.NoError(t, err)
			assert.Equal(t, "sk-kept", sec.Reveal(), "another tenant's credentials are untouched")

			d, err = v.DeleteTenant(pctx, gone.ID)
			require.NoError(t, err, "deleting again succeeds")
			assert.Equal(t, credentials.Deleted{Rows: 2}, d, "the restored rows go, there is no key left")
		})
	}
}
