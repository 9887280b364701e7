package main

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gocloud.dev/secrets/localsecrets"

	"github.com/tenantwall/tenantwall/credentials"
	"github.com/tenantwall/tenantwall/tenant"
)

// TestVaultKeysForgetUnusedTenants checks that an instance drops a
// tenant's private keys once keyReload has passed even when that tenant
// is never asked for again (it was deleted through another instance, so
// its hosts no longer resolve): SECURITY.md promises at most that minute.
func TestVaultKeysForgetUnusedTenants(t *testing.T) {
	ctx := context.Background()
	var secret [32]byte
	secret[0] = 9
	keeper := localsecrets.NewKeeper(secret)
	defer keeper.Close()
	store := credentials.NewMemStore()
	vault, err := credentials.New(keeper, store, credentials.WithDataKeys(store))
	require.NoError(t, err)
	k := newVaultKeys(vault)
	now := time.Now()
	k.now = func() time.Time { return now }

	gone, other := tenant.NewID(), tenant.NewID()
	_, err = k.Current(ctx, gone)
	require.NoError(t, err)
	now = now.Add(keyReload + time.Second)
	// Only another tenant is served from now on.
	_, err = k.Current(ctx, other)
	require.NoError(t, err)
	assert.Zero(t, k.RemoveTenant(gone), "the unused tenant's keys were dropped from memory after keyReload")
	assert.Equal(t, 1, k.RemoveTenant(other))
}
