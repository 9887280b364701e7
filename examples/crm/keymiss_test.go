package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gocloud.dev/secrets/localsecrets"

	"github.com/tenantwall/tenantwall/credentials"
	"github.com/tenantwall/tenantwall/jwtclaims"
	"github.com/tenantwall/tenantwall/ratelimit"
	"github.com/tenantwall/tenantwall/tenant"
)

// countingVault counts the key source's reads of the vault, as a
// reviewer counts database reads.
type countingVault struct {
	keyVault
	reads atomic.Int64
}

func (c *countingVault) Get(ctx context.Context, provider string) (credentials.Secret, error) {
	c.reads.Add(1)
	return c.keyVault.Get(ctx, provider)
}

func (c *countingVault) GetVersion(ctx context.Context, provider string, version int) (credentials.Secret, error) {
	c.reads.Add(1)
	return c.keyVault.GetVersion(ctx, provider, version)
}

func memVault(t *testing.T) *credentials.Vault {
	var secret [32]byte
	secret[0] = 11
	keeper := localsecrets.NewKeeper(secret)
	t.Cleanup(func() { keeper.Close() })
	store := credentials.NewMemStore()
	vault, err := credentials.New(keeper, store, credentials.WithDataKeys(store))
	require.NoError(t, err)
	return vault
}

func TestForgedKidsCostBoundedVaultReads(t *testing.T) {
	ctx := context.Background()
	vault := memVault(t)
	cv := &countingVault{keyVault: vault}
	k := newVaultKeys(cv)
	now := time.Now()
	var clock sync.Mutex
	k.now = func() time.Time { clock.Lock(); defer clock.Unlock(); return now }
	advance := func(d time.Duration) { clock.Lock(); now = now.Add(d); clock.Unlock() }
	id := tenant.NewID()
	_, err := k.Current(ctx, id)
	require.NoError(t, err)

	t.Run("one forged kid asked by many requests at once is read once", func(t *testing.T) {
		cv.reads.Store(0)
		var wg sync.WaitGroup
		for range 50 {
			wg.Go(func() {
				_, err := k.Key(ctx, id, "v7")
				assert.ErrorIs(t, err, jwtclaims.ErrUnknownKey)
			})
		}
		wg.Wait()
		for range 20 {
			_, err := k.Key(ctx, id, "v7")
			assert.ErrorIs(t, err, jwtclaims.ErrUnknownKey)
		}
		assert.EqualValues(t, 1, cv.reads.Load())
	})
	t.Run("each forged kid is read at most once per keyMissTTL", func(t *testing.T) {
		cv.reads.Store(0)
		for range 4 {
			for v := 100; v < 105; v++ {
				_, err := k.Key(ctx, id, fmt.Sprintf("v%d", v))
				assert.ErrorIs(t, err, jwtclaims.ErrUnknownKey)
			}
		}
		assert.EqualValues(t, 5, cv.reads.Load())
		advance(keyMissTTL + time.Second)
		_, err := k.Key(ctx, id, "v100")
		assert.ErrorIs(t, err, jwtclaims.ErrUnknownKey)
		assert.EqualValues(t, 6, cv.reads.Load(), "read again once the miss is forgotten")
	})
	t.Run("held keys only reads nothing", func(t *testing.T) {
		cv.reads.Store(0)
		_, err := k.Key(heldKeysOnly(ctx), id, "v9")
		assert.ErrorIs(t, err, errKeyNotHeld)
		assert.NotErrorIs(t, err, jwtclaims.ErrUnknownKey, "the verified-token cache keeps its entries")
		key, err := k.Key(heldKeysOnly(ctx), id, "v1")
		require.NoError(t, err)
		assert.Equal(t, "v1", key.ID)
		assert.Zero(t, cv.reads.Load())
	})
	t.Run("a key created after a miss becomes usable", func(t *testing.T) {
		// Instance two remembers v2 missing; instance one (k) is handed the
		// tenant's keys, as after a rotation, through the vault.
		other := tenant.NewID()
		two := newVaultKeys(vault)
		two.now = k.now
		_, err := two.Key(ctx, other, "v1")
		require.ErrorIs(t, err, jwtclaims.ErrUnknownKey)
		one := newVaultKeys(vault)
		one.now = k.now
		created, err := one.Current(ctx, other)
		require.NoError(t, err)
		require.Equal(t, "v1", created.ID)
		_, err = two.Key(ctx, other, "v1")
		assert.ErrorIs(t, err, jwtclaims.ErrUnknownKey, "another instance's new key: remembered missing for keyMissTTL")
		advance(keyMissTTL + time.Second)
		key, err := two.Key(ctx, other, "v1")
		require.NoError(t, err, "and usable after it")
		assert.Equal(t, created.Verify, key.Verify)

		// A key this instance reads clears its miss at once.
		third := tenant.NewID()
		_, err = two.Key(ctx, third, "v1")
		require.ErrorIs(t, err, jwtclaims.ErrUnknownKey)
		_, err = one.Current(ctx, third)
		require.NoError(t, err)
		cur, err := two.Current(ctx, third)
		require.NoError(t, err)
		key, err = two.Key(ctx, third, cur.ID)
		require.NoError(t, err, "the kid read by Current is no longer missing")
		assert.Equal(t, cur.Verify, key.Verify)
	})
	t.Run("the misses remembered are bounded", func(t *testing.T) {
		k := newVaultKeys(&countingVault{keyVault: vault})
		for v := 1; v <= maxKeyMisses+50; v++ {
			_, _ = k.Key(ctx, id, fmt.Sprintf("v%d", v+1000))
		}
		assert.LessOrEqual(t, len(k.misses), maxKeyMisses)
	})
}

// forgedToken is a well-formed access token of the tenant signed by a key
// of no one, under kid.
func forgedToken(t *testing.T, tenantID, kid string) string {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwtclaims.Claims{
		RegisteredClaims: jwt.RegisteredClaims{Issuer: "https://platform.localhost", Subject: "1",
			Audience: jwt.ClaimStrings{"crm:" + tenantID}, ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))},
		TenantID: tenantID, Type: jwtclaims.Access})
	tok.Header["kid"] = kid
	s, err := tok.SignedString(priv)
	require.NoError(t, err)
	return s
}

// The reviewer's case: 20 tokens with forged kids on a tenant limited to
// 3 requests made 23 vault reads (the limiter's user lookup read each
// kid, then authed again). Refused requests must cost no read.
func TestForgedKidsOverTheRateLimitReadNoKeys(t *testing.T) {
	withPlan(t, plan{Name: "test-forged", Limits: ratelimit.Policy{
		Tenant: ratelimit.Limit{Rate: 1, Burst: 3, Period: time.Hour},
		User:   ratelimit.Limit{Rate: 1, Burst: 3, Period: time.Hour},
	}})
	var cv *countingVault
	s := startServer(t, []string{"-data", t.TempDir(), "-operator-token", "op-secret", "-bcrypt-cost", "4", "-plans", "globex=test-forged"},
		func(a *app) { cv = &countingVault{keyVault: a.keys.vault}; a.keys.vault = cv })
	ctx := context.Background()
	globex, err := s.app.tenants.BySlug(ctx, "globex")
	require.NoError(t, err)
	c := s.client(t, "globex.localhost")
	refused := 0
	for i := range 20 {
		c.token = forgedToken(t, globex.ID, fmt.Sprintf("v%d", 100+i))
		code, _, _ := c.do("GET", "/api/auth/me/", nil, "")
		if code == http.StatusTooManyRequests {
			refused++
		} else {
			assert.Equal(t, http.StatusUnauthorized, code)
		}
	}
	assert.Equal(t, 17, refused)
	assert.LessOrEqual(t, cv.reads.Load(), int64(3), "only the 3 admitted requests may read a key")

	t.Run("one forged kid repeated is read once", func(t *testing.T) {
		acme, err := s.app.tenants.BySlug(ctx, "acme")
		require.NoError(t, err)
		c := s.client(t, "acme.localhost")
		c.token = forgedToken(t, acme.ID, "v42")
		cv.reads.Store(0)
		for range 10 {
			code, _, _ := c.do("GET", "/api/auth/me/", nil, "")
			assert.Equal(t, http.StatusUnauthorized, code)
		}
		assert.EqualValues(t, 1, cv.reads.Load())
	})
	t.Run("a real token still works", func(t *testing.T) {
		c := s.client(t, "acme.localhost")
		code, out := c.json("POST", "/api/auth/token/", map[string]string{"email": "admin@acme.test", "password": "demo"})
		require.Equal(t, http.StatusOK, code, "%v", out)
		c.token = out["access"].(string)
		code, me := c.json("GET", "/api/auth/me/", nil)
		assert.Equal(t, http.StatusOK, code, "%v", me)
	})
}
