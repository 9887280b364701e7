package sqlstore_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gocloud.dev/secrets/localsecrets"

	"github.com/tenantwall/tenantwall/credentials"
	"github.com/tenantwall/tenantwall/credentials/sqlstore"
	"github.com/tenantwall/tenantwall/tenant"
	"github.com/tenantwall/tenantwall/tenant/tenanttest"
)

// TestMoveKeys moves the data keys an earlier version kept in the data
// database into a key store of their own: the credentials still open,
// the old table is gone, and moving again moves nothing.
func TestMoveKeys(t *testing.T) {
	for _, e := range engines() {
		t.Run("on "+e.name, func(t *testing.T) {
			ctx := context.Background()
			s, data := newStore(t, e)
			// The old layout: the keys table in the data database.
			old := newKeyStore(t, data, e.dialect)
			key, err := localsecrets.NewRandomKey()
			require.NoError(t, err)
			keeper := localsecrets.NewKeeper(key)
			v, err := credentials.New(keeper, s, credentials.WithDataKeys(old))
			require.NoError(t, err)
			a, b := tenanttest.NewTenant(tenanttest.RandomSlug("a")), tenanttest.NewTenant(tenanttest.RandomSlug("b"))
			for _, tn := range []tenant.Tenant{a, b} {
				_, err = v.Set(tenant.NewContext(ctx, tn), "openai", "sk-"+tn.Slug)
				require.NoError(t, err)
			}

			ks := newKeyStore(t, e.open(t), e.dialect)
			// A different key for a already in the new store: refused,
			// nothing dropped.
			require.NoError(t, ks.PutDataKey(ctx, a.ID, []byte("another wrapped key")))
			_, err = ks.MoveKeys(ctx, data, e.dialect)
			require.ErrorIs(t, err, credentials.ErrVersionExists)
			_, found, err := old.DataKey(ctx, a.ID)
			require.NoError(t, err)
			require.True(t, found, "the old table is kept when the move fails")
			_, err = ks.DestroyDataKey(ctx, a.ID)
			require.NoError(t, err)

			// The same key already there (a move cut short) is fine. The
			// refused move may have copied b's key already (it goes in
			// tenant ID order): start from b's key alone.
			wrapped, _, err := old.DataKey(ctx, b.ID)
			require.NoError(t, err)
			_, err = ks.DestroyDataKey(ctx, b.ID)
			require.NoError(t, err)
			require.NoError(t, ks.PutDataKey(ctx, b.ID, wrapped))

			n, err := ks.MoveKeys(ctx, data, e.dialect)
			require.NoError(t, err)
			assert.Equal(t, 2, n)
			_, _, err = old.DataKey(ctx, a.ID)
			require.Error(t, err, "the old table is dropped")

			v2, err := credentials.New(keeper, s, credentials.WithDataKeys(ks))
			require.NoError(t, err)
			for _, tn := range []tenant.Tenant{a, b} {
				sec, err := v2.Get(tenant.NewContext(ctx, tn), "openai")
				require.NoError(t, err)
				assert.Equal(t, "sk-"+tn.Slug, sec.Reveal())
			}

			n, err = ks.MoveKeys(ctx, data, e.dialect)
			require.NoError(t, err)
			assert.Zero(t, n, "nothing left to move")
		})
	}
}

func TestKeyStoreRefusesWhatItDoesNotSupport(t *testing.T) {
	_, err := sqlstore.NewKeyStore(nil, sqlstore.SQLite)
	require.ErrorIs(t, err, credentials.ErrConfig)
	_, err = sqlstore.NewKeyStore(openSQLite(t, t.TempDir()+"/k.db"), 0)
	require.ErrorIs(t, err, credentials.ErrConfig)
	ks := newKeyStore(t, openSQLite(t, t.TempDir()+"/k.db"), sqlstore.SQLite)
	_, err = ks.MoveKeys(context.Background(), nil, sqlstore.SQLite)
	require.ErrorIs(t, err, credentials.ErrConfig)
	_, err = ks.MoveKeys(context.Background(), openSQLite(t, t.TempDir()+"/d.db"), 9)
	require.ErrorIs(t, err, credentials.ErrConfig)
	for _, id := range []string{"", "../x", "a\x00b", "not-a-uuid"} {
		_, _, err = ks.DataKey(context.Background(), id)
		require.ErrorIs(t, err, tenant.ErrInvalidID, "%q", id)
		require.ErrorIs(t, ks.PutDataKey(context.Background(), id, []byte("k")), tenant.ErrInvalidID)
		_, err = ks.DestroyDataKey(context.Background(), id)
		require.ErrorIs(t, err, tenant.ErrInvalidID)
	}
	id := tenanttest.NewTenant(tenanttest.RandomSlug("e")).ID
	require.ErrorIs(t, ks.PutDataKey(context.Background(), id, nil), credentials.ErrRow)
}

// TestMoveKeysRefusesItsOwnTable gives MoveKeys the key store's own
// database as the data database (a misconfiguration the caller did not
// catch): the old table it would drop is the key store's, so it must
// refuse and drop nothing, and every key must still be there.
func TestMoveKeysRefusesItsOwnTable(t *testing.T) {
	for _, e := range engines() {
		t.Run("on "+e.name, func(t *testing.T) {
			ctx := context.Background()
			_, data := newStore(t, e)
			ks := newKeyStore(t, data, e.dialect)
			a := tenanttest.NewTenant(tenanttest.RandomSlug("a"))
			require.NoError(t, ks.PutDataKey(ctx, a.ID, []byte("wrapped key of a")))
			n, err := ks.MoveKeys(ctx, data, e.dialect)
			require.ErrorIs(t, err, credentials.ErrConfig)
			assert.Zero(t, n)
			got, found, err := ks.DataKey(ctx, a.ID)
			require.NoError(t, err)
			require.True(t, found, "the key store's table is not dropped")
			assert.Equal(t, []byte("wrapped key of a"), got)
		})
	}
}
