package credentials_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gocloud.dev/secrets/localsecrets"
	_ "modernc.org/sqlite"

	"github.com/tenantwall/tenantwall/credentials"
	"github.com/tenantwall/tenantwall/tenant"
	"github.com/tenantwall/tenantwall/tenant/tenanttest"
)

func newVault(t *testing.T, store credentials.Store, opts ...credentials.Option) *credentials.Vault {
	t.Helper()
	key, err := localsecrets.NewRandomKey()
	require.NoError(t, err)
	keeper := localsecrets.NewKeeper(key)
	t.Cleanup(func() { keeper.Close() })
	v, err := credentials.New(keeper, store, opts...)
	require.NoError(t, err)
	return v
}

func two() (context.Context, context.Context, tenant.Tenant, tenant.Tenant) {
	a, b := tenanttest.NewTenant("acme"), tenanttest.NewTenant("globex")
	return tenant.NewContext(context.Background(), a), tenant.NewContext(context.Background(), b), a, b
}

func stores(t *testing.T, fn func(t *testing.T, s credentials.Store)) {
	t.Run("memory", func(t *testing.T) { fn(t, credentials.NewMemStore()) })
	t.Run("sqlite", func(t *testing.T) {
		db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "c.db"))
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		s := credentials.NewSQLStore(db, false)
		require.NoError(t, s.Migrate(context.Background()))
		fn(t, s)
	})
}

func TestRoundTripAndRotation(t *testing.T) {
	stores(t, func(t *testing.T, s credentials.Store) {
		v := newVault(t, s)
		ctxA, ctxB, _, _ := two()
		v1, err := v.Set(ctxA, "openai", "sk-acme-1")
		require.NoError(t, err)
		assert.Equal(t, 1, v1)
		got, err := v.Get(ctxA, "openai")
		require.NoError(t, err)
		assert.Equal(t, "sk-acme-1", got.Reveal())

		v2, err := v.Set(ctxA, "openai", "sk-acme-2")
		require.NoError(t, err)
		assert.Equal(t, 2, v2)
		got, _ = v.Get(ctxA, "openai")
		assert.Equal(t, "sk-acme-2", got.Reveal(), "new calls use the newest version")
		old, err := v.GetVersion(ctxA, "openai", 1)
		require.NoError(t, err)
		assert.Equal(t, "sk-acme-1", old.Reveal(), "older versions still decrypt")

		_, err = v.Get(ctxB, "openai")
		assert.ErrorIs(t, err, credentials.ErrNoCredential, "B has no key and must not get A's")
		_, err = v.Get(context.Background(), "openai")
		assert.ErrorIs(t, err, tenant.ErrNoTenant)
		_, err = v.Set(ctxA, "Open AI", "x")
		assert.ErrorIs(t, err, credentials.ErrProvider)
	})
}

// swap copies ciphertexts between rows, as someone with write access to
// the table might.
func swap(t *testing.T, db *sql.DB, a, b [3]any) {
	t.Helper()
	var ca, cb string
	q := `SELECT ciphertext FROM tenantwall_credentials WHERE owner_id = ? AND provider = ? AND version = ?`
	require.NoError(t, db.QueryRow(q, a[0], a[1], a[2]).Scan(&ca))
	require.NoError(t, db.QueryRow(q, b[0], b[1], b[2]).Scan(&cb))
	u := `UPDATE tenantwall_credentials SET ciphertext = ? WHERE owner_id = ? AND provider = ? AND version = ?`
	_, err := db.Exec(u, cb, a[0], a[1], a[2])
	require.NoError(t, err)
	_, err = db.Exec(u, ca, b[0], b[1], b[2])
	require.NoError(t, err)
}

func TestCiphertextSwapFails(t *testing.T) {
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "c.db"))
	require.NoError(t, err)
	defer db.Close()
	store := credentials.NewSQLStore(db, false)
	require.NoError(t, store.Migrate(context.Background()))
	audit := &tenanttest.AuditRecorder{}
	v := newVault(t, store, credentials.WithAuditor(audit))
	ctxA, ctxB, a, b := two()
	_, err = v.Set(ctxA, "openai", "sk-acme")
	require.NoError(t, err)
	_, err = v.Set(ctxB, "openai", "sk-globex")
	require.NoError(t, err)
	_, err = v.Set(ctxA, "smartflo", "sf-acme")
	require.NoError(t, err)

	swap(t, db, [3]any{a.ID, "openai", 1}, [3]any{b.ID, "openai", 1})
	_, err = v.Get(ctxB, "openai")
	assert.ErrorIs(t, err, credentials.ErrBinding, "A's ciphertext in B's row")
	_, err = v.Get(ctxA, "openai")
	assert.ErrorIs(t, err, credentials.ErrBinding)
	require.NotEmpty(t, audit.Events())
	assert.Equal(t, tenant.EventCrossTenant, audit.Events()[0].Kind)

	swap(t, db, [3]any{a.ID, "openai", 1}, [3]any{a.ID, "smartflo", 1})
	_, err = v.Get(ctxA, "smartflo")
	assert.ErrorIs(t, err, credentials.ErrBinding, "across providers too")
}

func TestFallbackIsOffByDefaultAndAudited(t *testing.T) {
	ctxA, _, _, _ := two()
	v := newVault(t, credentials.NewMemStore())
	_, err := v.Get(ctxA, "elevenlabs")
	assert.ErrorIs(t, err, credentials.ErrNoCredential)

	audit := &tenanttest.AuditRecorder{}
	v = newVault(t, credentials.NewMemStore(), credentials.WithFallback("elevenlabs", "platform-key"), credentials.WithAuditor(audit))
	got, err := v.Get(ctxA, "elevenlabs")
	require.NoError(t, err)
	assert.True(t, got.Fallback)
	assert.Equal(t, "platform-key", got.Reveal())
	require.Len(t, audit.Events(), 1)
	assert.Equal(t, tenant.EventPlatformAccess, audit.Events()[0].Kind)
	_, err = v.Get(ctxA, "openai")
	assert.ErrorIs(t, err, credentials.ErrNoCredential, "fallback is per provider")
	_, err = v.Set(ctxA, "elevenlabs", "own-key")
	require.NoError(t, err)
	got, _ = v.Get(ctxA, "elevenlabs")
	assert.Equal(t, "own-key", got.Reveal(), "a tenant's own key wins over the fallback")
	_, err = v.Get(context.Background(), "elevenlabs")
	assert.ErrorIs(t, err, tenant.ErrNoTenant, "no tenant gets no fallback either")
}

func TestSecretsDoNotPrint(t *testing.T) {
	ctxA, _, _, _ := two()
	v := newVault(t, credentials.NewMemStore())
	_, _ = v.Set(ctxA, "openai", "sk-very-secret")
	s, _ := v.Get(ctxA, "openai")
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %s %q %+v %#v %x", s, s, s, s, s, s), s.String()} {
		assert.NotContains(t, out, "sk-very-secret")
	}
	b, _ := json.Marshal(map[string]any{"key": s})
	assert.NotContains(t, string(b), "sk-very-secret")
	assert.Equal(t, "sk-very-secret", s.Reveal())
}

func TestTransportInjectsEachTenantsKey(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Header.Get("Authorization")+"|"+r.Header.Get("Xi-Api-Key"))
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "https://")
	v := newVault(t, credentials.NewMemStore(), credentials.WithHosts("openai", host), credentials.WithHosts("elevenlabs", host))
	var ctxs []context.Context
	var keys []string
	for i := range 6 {
		tn := tenanttest.NewTenant(tenanttest.RandomSlug("t"))
		ctx := tenant.NewContext(context.Background(), tn)
		key := fmt.Sprintf("key-%d-%s", i, tn.ID[:8])
		_, err := v.Set(ctx, "openai", key)
		require.NoError(t, err)
		_, err = v.Set(ctx, "elevenlabs", "xi-"+key)
		require.NoError(t, err)
		ctxs, keys = append(ctxs, ctx), append(keys, key)
	}
	bearer := &http.Client{Transport: &credentials.Transport{Vault: v, Provider: "openai", Base: srv.Client().Transport}}
	header := &http.Client{Transport: &credentials.Transport{Vault: v, Provider: "elevenlabs", Header: "xi-api-key", Base: srv.Client().Transport}}
	var wg sync.WaitGroup
	errs := make(chan error, 600)
	for g := range 60 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 10 {
				i := (g + j) % len(ctxs)
				for _, c := range []*http.Client{bearer, header} {
					req, _ := http.NewRequestWithContext(ctxs[i], "POST", srv.URL, strings.NewReader("body"))
					res, err := c.Do(req)
					if err != nil {
						errs <- err
						return
					}
					b, _ := io.ReadAll(res.Body)
					res.Body.Close()
					want := "Bearer " + keys[i] + "|"
					if c == header {
						want = "|xi-" + keys[i]
					}
					if string(b) != want {
						errs <- fmt.Errorf("tenant %d got %q, want %q", i, b, want)
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	req, _ := http.NewRequest("GET", srv.URL, nil)
	_, err := bearer.Do(req)
	assert.ErrorIs(t, err, tenant.ErrNoTenant, "no tenant, no request")
	noKey := tenant.NewContext(context.Background(), tenanttest.NewTenant("nokey"))
	req, _ = http.NewRequestWithContext(noKey, "GET", srv.URL, nil)
	_, err = bearer.Do(req)
	assert.ErrorIs(t, err, credentials.ErrNoCredential)

	// A failing transport's error does not reveal the key.
	broken := &http.Client{Transport: &credentials.Transport{Vault: v, Provider: "openai",
		Base: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			return nil, fmt.Errorf("upstream rejected %s", r.Header.Get("Authorization"))
		})}}
	req, _ = http.NewRequestWithContext(ctxs[0], "GET", srv.URL, nil)
	_, err = broken.Do(req)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), keys[0])
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
