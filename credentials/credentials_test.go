package credentials_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gocloud.dev/secrets/localsecrets"

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

func TestRoundTripAndRotation(t *testing.T) {
	v := newVault(t, credentials.NewMemStore())
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
