package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gocloud.dev/secrets/localsecrets"

	"github.com/tenantwall/tenantwall/credentials"
	"github.com/tenantwall/tenantwall/jwtclaims"
	"github.com/tenantwall/tenantwall/tenant"
)

func TestKidVersion(t *testing.T) {
	for kid, want := range map[string]int{"v1": 1, "v42": 42, "v1048576": 1 << 20} {
		v, ok := kidVersion(kid)
		assert.True(t, ok, kid)
		assert.Equal(t, want, v, kid)
	}
	for _, kid := range []string{"", "v", "1", "k1", "v0", "v01", "v-1", "v+1", "v1048577", "v99999999", "V1", "v1 ", "v1\x00", "v１", "v9223372036854775808"} {
		_, ok := kidVersion(kid)
		assert.False(t, ok, "%q", kid)
	}
}

// Two key sources on one vault stand for two instances on one database.
func TestVaultKeysAreSharedAndFollowDeletion(t *testing.T) {
	ctx := context.Background()
	var secret [32]byte
	secret[0] = 7
	keeper := localsecrets.NewKeeper(secret)
	defer keeper.Close()
	store := credentials.NewMemStore()
	vault, err := credentials.New(keeper, store, credentials.WithDataKeys(store))
	require.NoError(t, err)
	one, two := newVaultKeys(vault), newVaultKeys(vault)
	now := time.Now()
	two.now = func() time.Time { return now }

	id, other := tenant.NewID(), tenant.NewID()
	k1, err := one.Current(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, "v1", k1.ID)
	k2, err := two.Key(ctx, id, "v1")
	require.NoError(t, err, "the other instance reads the key from the vault")
	assert.Equal(t, k1.Verify, k2.Verify)
	cur, err := two.Current(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, "v1", cur.ID, "the other instance signs with the same key, creating none")

	_, err = two.Key(ctx, other, "v1")
	assert.ErrorIs(t, err, jwtclaims.ErrUnknownKey, "a kid of tenant A is not a key of B")
	_, err = two.Key(ctx, id, "k1")
	assert.ErrorIs(t, err, jwtclaims.ErrUnknownKey)

	// The tenant is deleted through instance one.
	pctx, err := tenant.WithPlatformScope(ctx, "test: delete tenant")
	require.NoError(t, err)
	_, err = vault.DeleteTenant(pctx, id)
	require.NoError(t, err)
	assert.Equal(t, 1, one.RemoveTenant(id))
	_, err = one.Key(ctx, id, "v1")
	assert.ErrorIs(t, err, jwtclaims.ErrUnknownKey, "the deleting instance at once")
	_, err = two.Key(ctx, id, "v1")
	assert.NoError(t, err, "the other still holds it in memory")
	now = now.Add(keyReload + time.Second)
	_, err = two.Key(ctx, id, "v1")
	assert.ErrorIs(t, err, jwtclaims.ErrUnknownKey, "the other instance after keyReload")
}

func TestSigningProviderIsReserved(t *testing.T) {
	s := newServer(t, "sqlite")
	op := s.client(t, "platform.localhost")
	op.token = "op-secret"
	code, _ := op.json("PUT", "/admin/api/tenants/acme/credentials/"+signingProvider+"/", map[string]any{"key": "AAAA"})
	assert.Equal(t, http.StatusBadRequest, code)
}
