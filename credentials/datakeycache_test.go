package credentials_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gocloud.dev/secrets"
	"gocloud.dev/secrets/localsecrets"

	"github.com/tenantwall/tenantwall/credentials"
	"github.com/tenantwall/tenantwall/tenant"
	"github.com/tenantwall/tenantwall/tenant/tenanttest"
)

// countingKeys is a DataKeyStore that counts the keys read from it and
// may run a function right after a read (before the key is returned).
type countingKeys struct {
	credentials.DataKeyStore
	reads     atomic.Int64
	afterRead func()
}

func (k *countingKeys) DataKey(ctx context.Context, tenantID string) ([]byte, bool, error) {
	k.reads.Add(1)
	w, found, err := k.DataKeyStore.DataKey(ctx, tenantID)
	if f := k.afterRead; f != nil {
		k.afterRead = nil
		f()
	}
	return w, found, err
}

// processes is a credential store and a key store shared by Vaults that
// stand for separate processes: the same keeper, a cache each.
type processes struct {
	store  *credentials.MemStore
	keys   *countingKeys
	keeper *secrets.Keeper
}

func newProcesses(t *testing.T) *processes {
	t.Helper()
	key, err := localsecrets.NewRandomKey()
	require.NoError(t, err)
	p := &processes{store: credentials.NewMemStore(), keeper: localsecrets.NewKeeper(key)}
	p.keys = &countingKeys{DataKeyStore: p.store}
	t.Cleanup(func() { p.keeper.Close() })
	return p
}

// vault returns one process's Vault; cache is WithDataKeyCache's ttl, 0
// for none.
func (p *processes) vault(t *testing.T, cacheTTL time.Duration) *credentials.Vault {
	t.Helper()
	opts := []credentials.Option{credentials.WithDataKeys(p.keys)}
	if cacheTTL > 0 {
		opts = append(opts, credentials.WithDataKeyCache(100, cacheTTL))
	}
	v, err := credentials.New(p.keeper, p.store, opts...)
	require.NoError(t, err)
	return v
}

func platform(t *testing.T) context.Context {
	t.Helper()
	ctx, err := tenant.WithPlatformScope(context.Background(), "test: delete tenant")
	require.NoError(t, err)
	return ctx
}

func newTenantCtx(name string) (context.Context, tenant.Tenant) {
	tn := tenanttest.NewTenant(tenanttest.RandomSlug(name))
	return tenant.NewContext(context.Background(), tn), tn
}

func reveal(t *testing.T, v *credentials.Vault, ctx context.Context) string {
	t.Helper()
	s, err := v.Get(ctx, "openai")
	require.NoError(t, err)
	return s.Reveal()
}

func TestDataKeyCacheOptions(t *testing.T) {
	p := newProcesses(t)
	for _, c := range []struct {
		name string
		opts []credentials.Option
	}{
		{"a size of zero", []credentials.Option{credentials.WithDataKeys(p.keys), credentials.WithDataKeyCache(0, time.Minute)}},
		{"a size above the bound", []credentials.Option{credentials.WithDataKeys(p.keys), credentials.WithDataKeyCache(1<<20+1, time.Minute)}},
		{"a ttl under a second", []credentials.Option{credentials.WithDataKeys(p.keys), credentials.WithDataKeyCache(10, time.Second-1)}},
		{"a ttl over an hour", []credentials.Option{credentials.WithDataKeys(p.keys), credentials.WithDataKeyCache(10, time.Hour+1)}},
		{"a cache without data keys", []credentials.Option{credentials.WithDataKeyCache(10, time.Minute)}},
	} {
		t.Run(c.name+" is refused", func(t *testing.T) {
			_, err := credentials.New(p.keeper, p.store, c.opts...)
			assert.ErrorIs(t, err, credentials.ErrConfig)
		})
	}
}

// Each tenant's reads are opened with its own key from the cache, and
// only the first read of each queries the key store: a cache that gave a
// tenant another's key would fail to open the row (or read the store
// again to recover).
func TestDataKeyCacheGivesEachTenantItsOwnKey(t *testing.T) {
	p := newProcesses(t)
	v := p.vault(t, time.Minute)
	var ctxs []context.Context
	for i := range 5 {
		ctx, _ := newTenantCtx("t")
		_, err := v.Set(ctx, "openai", fmt.Sprint("sk-", i))
		require.NoError(t, err)
		ctxs = append(ctxs, ctx)
	}
	before := p.keys.reads.Load()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for j := range 50 {
				i := (g + j) % len(ctxs)
				s, err := v.Get(ctxs[i], "openai")
				if assert.NoError(t, err) {
					assert.Equal(t, fmt.Sprint("sk-", i), s.Reveal())
				}
			}
		})
	}
	wg.Wait()
	assert.Equal(t, before, p.keys.reads.Load(), "key store reads after each tenant's Set")
	assert.Equal(t, 5, credentials.CachedKeys(v))
}

// The cache holds at most its size: the tenants beyond it are read from
// the store again, and still open with their own key.
func TestDataKeyCacheIsBounded(t *testing.T) {
	p := newProcesses(t)
	v, err := credentials.New(p.keeper, p.store, credentials.WithDataKeys(p.keys), credentials.WithDataKeyCache(2, time.Minute))
	require.NoError(t, err)
	var ctxs []context.Context
	for i := range 5 {
		ctx, _ := newTenantCtx("t")
		_, err := v.Set(ctx, "openai", fmt.Sprint("sk-", i))
		require.NoError(t, err)
		ctxs = append(ctxs, ctx)
	}
	for range 3 {
		for i, ctx := range ctxs {
			assert.Equal(t, fmt.Sprint("sk-", i), reveal(t, v, ctx))
			assert.LessOrEqual(t, credentials.CachedKeys(v), 2)
		}
	}
}

// A tenant deleted in this process: from DeleteTenant's return on, its
// rows (restored from a copy) do not open, as without a cache.
func TestDataKeyCacheForgetsADeletedTenant(t *testing.T) {
	p := newProcesses(t)
	v := p.vault(t, time.Hour)
	ctx, tn := newTenantCtx("gone")
	_, err := v.Set(ctx, "openai", "sk-gone")
	require.NoError(t, err)
	assert.Equal(t, "sk-gone", reveal(t, v, ctx), "its key is cached")
	backup, err := p.store.Rows(context.Background(), tn.ID, "openai")
	require.NoError(t, err)

	_, err = v.DeleteTenant(platform(t), tn.ID)
	require.NoError(t, err)
	for _, r := range backup {
		require.NoError(t, p.store.Put(context.Background(), r))
	}
	_, err = v.Get(ctx, "openai")
	assert.ErrorIs(t, err, credentials.ErrShredded)
	assert.Zero(t, credentials.CachedKeys(v))
}

// A read that fetched the tenant's key from the store just before
// DeleteTenant destroyed it returns (it began first), but does not leave
// the key in the cache.
func TestDataKeyCacheKeepsNoKeyReadDuringADelete(t *testing.T) {
	p := newProcesses(t)
	v := p.vault(t, time.Hour)
	ctx, tn := newTenantCtx("gone")
	_, err := v.Set(ctx, "openai", "sk-gone")
	require.NoError(t, err)
	backup, err := p.store.Rows(context.Background(), tn.ID, "openai")
	require.NoError(t, err)
	// Another process's read: this one's cache does not have the key yet.
	fresh := p.vault(t, time.Hour)
	p.keys.afterRead = func() {
		_, err := fresh.DeleteTenant(platform(t), tn.ID)
		require.NoError(t, err)
	}
	assert.Equal(t, "sk-gone", reveal(t, fresh, ctx), "the read that began before the delete")

	for _, r := range backup {
		require.NoError(t, p.store.Put(context.Background(), r))
	}
	_, err = fresh.Get(ctx, "openai")
	assert.ErrorIs(t, err, credentials.ErrShredded)
}

// The tenant was deleted and given a new key (a new Set) through another
// process: this process's cached key is stale. Its reads drop it and open
// the new rows; its writes never use it, so what it seals opens
// everywhere.
func TestDataKeyCacheRecoversFromAStaleKey(t *testing.T) {
	p := newProcesses(t)
	here, there := p.vault(t, time.Hour), p.vault(t, time.Hour)
	// rotate caches the tenant's first key here, then deletes the tenant
	// and stores a credential under a new key there.
	rotate := func(t *testing.T) context.Context {
		ctx, tn := newTenantCtx("moved")
		_, err := here.Set(ctx, "openai", "sk-1")
		require.NoError(t, err)
		require.Equal(t, "sk-1", reveal(t, here, ctx), "here caches the first key")
		_, err = there.DeleteTenant(platform(t), tn.ID)
		require.NoError(t, err)
		_, err = there.Set(ctx, "openai", "sk-2")
		require.NoError(t, err)
		return ctx
	}
	t.Run("a read drops the stale key", func(t *testing.T) {
		ctx := rotate(t)
		assert.Equal(t, "sk-2", reveal(t, here, ctx), "a row sealed under the new key opens here")
	})
	t.Run("a write never uses the stale key", func(t *testing.T) {
		ctx := rotate(t)
		_, err := here.Set(ctx, "openai", "sk-3")
		require.NoError(t, err)
		assert.Equal(t, "sk-3", reveal(t, there, ctx), "what here seals opens there")
		assert.Equal(t, "sk-3", reveal(t, p.vault(t, 0), ctx), "and without a cache")
	})
	t.Run("in one process", func(t *testing.T) {
		ctx, tn := newTenantCtx("moved")
		_, err := here.Set(ctx, "openai", "sk-1")
		require.NoError(t, err)
		require.Equal(t, "sk-1", reveal(t, here, ctx))
		_, err = here.DeleteTenant(platform(t), tn.ID)
		require.NoError(t, err)
		_, err = here.Set(ctx, "openai", "sk-2")
		require.NoError(t, err)
		assert.Equal(t, "sk-2", reveal(t, here, ctx))
		assert.Equal(t, "sk-2", reveal(t, p.vault(t, 0), ctx))
	})
}

// A tenant deleted through another process: this process, which cached
// its key, still opens its rows (restored from a copy) until the entry
// expires, ttl after the key was read, and never after.
func TestDataKeyCacheOfAnotherProcessExpires(t *testing.T) {
	p := newProcesses(t)
	here, there := p.vault(t, time.Minute), p.vault(t, 0)
	now := time.Now()
	credentials.SetClock(here, func() time.Time { return now })
	ctx, tn := newTenantCtx("gone")
	_, err := there.Set(ctx, "openai", "sk-gone")
	require.NoError(t, err)
	assert.Equal(t, "sk-gone", reveal(t, here, ctx), "here reads and caches the key")
	read := now
	backup, err := p.store.Rows(context.Background(), tn.ID, "openai")
	require.NoError(t, err)

	_, err = there.DeleteTenant(platform(t), tn.ID)
	require.NoError(t, err)
	for _, r := range backup {
		require.NoError(t, p.store.Put(context.Background(), r))
	}
	now = read.Add(time.Minute - 1)
	assert.Equal(t, "sk-gone", reveal(t, here, ctx), "within the ttl: the documented window")
	now = read.Add(time.Minute)
	_, err = here.Get(ctx, "openai")
	assert.ErrorIs(t, err, credentials.ErrShredded, "from the ttl on")
	assert.Zero(t, credentials.CachedKeys(here))
}
