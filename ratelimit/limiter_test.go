package ratelimit_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/ratelimit"
	"github.com/tenantwall/tenantwall/tenant"
	"github.com/tenantwall/tenantwall/tenant/tenanttest"
)

// recordingStore records the keys it is asked about.
type recordingStore struct {
	ratelimit.Store
	mu   sync.Mutex
	keys []string
}

func (s *recordingStore) AllowN(ctx context.Context, key string, l ratelimit.Limit, n int) (ratelimit.Result, error) {
	s.mu.Lock()
	s.keys = append(s.keys, key)
	s.mu.Unlock()
	return s.Store.AllowN(ctx, key, l, n)
}

func memory(t *testing.T) *ratelimit.MemoryStore {
	t.Helper()
	s, err := ratelimit.NewMemoryStore()
	require.NoError(t, err)
	return s
}

// plans is a policy function over plan names, as the reference server's.
func plans(byTenant map[string]ratelimit.Policy) ratelimit.PolicyFunc {
	return func(_ context.Context, t tenant.Tenant) (ratelimit.Policy, error) {
		p, ok := byTenant[t.ID]
		if !ok {
			return ratelimit.Policy{}, fmt.Errorf("no plan for %s", t.Slug)
		}
		return p, nil
	}
}

func serve(h http.Handler, t tenant.Tenant, user string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("GET", "/", nil)
	if user != "" {
		req.Header.Set("X-Test-User", user)
	}
	if t.ID != "" {
		req = req.WithContext(tenant.NewContext(req.Context(), t))
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

var ok = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })

// testUser stands for an authenticated user in these tests only; a real
// WithUser reads a verified credential.
func testUser(r *http.Request) string { return r.Header.Get("X-Test-User") }

func TestOverTheLimitIs429WithRetryAfterAndRateLimitHeaders(t *testing.T) {
	acme := tenanttest.NewTenant("acme")
	lim, err := ratelimit.New(memory(t), plans(map[string]ratelimit.Policy{
		acme.ID: {Tenant: ratelimit.Limit{Rate: 60, Burst: 3, Period: time.Minute}},
	}))
	require.NoError(t, err)
	h := lim.Middleware(ok)
	for i := range 3 {
		rec := serve(h, acme, "")
		require.Equal(t, http.StatusNoContent, rec.Code, "request %d", i+1)
		assert.Equal(t, `"tenant";q=3;w=3`, rec.Header().Get("RateLimit-Policy"))
		assert.Equal(t, fmt.Sprintf(`"tenant";r=%d;t=%d`, 2-i, i+1), rec.Header().Get("RateLimit"))
		assert.Empty(t, rec.Header().Get("Retry-After"))
	}
	rec := serve(h, acme, "")
	assert.Equal(t, http.StatusTooManyRequests, rec.Code)
	assert.Equal(t, "1", rec.Header().Get("Retry-After"))
	assert.Equal(t, `"tenant";q=3;w=3`, rec.Header().Get("RateLimit-Policy"))
	assert.Equal(t, `"tenant";r=0;t=3`, rec.Header().Get("RateLimit"))
}

func TestOneTenantNeverSpendsAnothersBudget(t *testing.T) {
	acme, globex := tenanttest.NewTenant("acme"), tenanttest.NewTenant("globex")
	limit := ratelimit.Limit{Rate: 1, Burst: 2, Period: time.Hour}
	store := &recordingStore{Store: memory(t)}
	lim, err := ratelimit.New(store, plans(map[string]ratelimit.Policy{
		acme.ID: {Tenant: limit, User: limit}, globex.ID: {Tenant: limit, User: limit},
	}), ratelimit.WithUser(testUser))
	require.NoError(t, err)
	h := lim.Middleware(ok)
	// acme spends everything, with user IDs that name globex in every way
	// a key could be confused.
	for _, u := range []string{"", globex.ID, "x:" + globex.ID + ":t", "../" + globex.ID, "%3A", ":", "*", "{" + globex.ID + "}"} {
		serve(h, acme, u)
		serve(h, acme, u)
	}
	assert.Equal(t, http.StatusTooManyRequests, serve(h, acme, "").Code, "acme is over its limit")
	assert.Equal(t, http.StatusNoContent, serve(h, globex, "").Code, "globex is not")
	assert.Equal(t, http.StatusNoContent, serve(h, globex, globex.ID).Code, "nor is globex's user named like acme's")

	// A key's tenant is bytes 6 to 42; after it comes ":t", or ":u:" and
	// a user part without separators.
	for _, k := range store.keys {
		require.True(t, strings.HasPrefix(k, "tw:rl:") && len(k) >= 44, "key %q", k)
		owner, rest := k[6:42], k[42:]
		require.Contains(t, []string{acme.ID, globex.ID}, owner, "key %q belongs to neither tenant", k)
		if rest != ":t" {
			require.True(t, strings.HasPrefix(rest, ":u:"), "key %q", k)
			require.NotContains(t, rest[3:], ":", "the user part of %q holds a separator", k)
		}
	}
}

func TestUsersAreLimitedWithinTheirTenant(t *testing.T) {
	acme := tenanttest.NewTenant("acme")
	lim, err := ratelimit.New(memory(t), plans(map[string]ratelimit.Policy{acme.ID: {
		Tenant: ratelimit.Limit{Rate: 1, Burst: 5, Period: time.Hour},
		User:   ratelimit.Limit{Rate: 1, Burst: 2, Period: time.Hour},
	}}), ratelimit.WithUser(testUser))
	require.NoError(t, err)
	h := lim.Middleware(ok)
	assert.Equal(t, http.StatusNoContent, serve(h, acme, "alice").Code)
	rec := serve(h, acme, "alice")
	assert.Equal(t, http.StatusNoContent, rec.Code)
	assert.Equal(t, `"user";q=2;w=7200, "tenant";q=5;w=18000`, rec.Header().Get("RateLimit-Policy"))
	assert.Equal(t, http.StatusTooManyRequests, serve(h, acme, "alice").Code, "alice is over her own limit")
	assert.Equal(t, http.StatusNoContent, serve(h, acme, "bob").Code, "bob is not")
	assert.Equal(t, http.StatusNoContent, serve(h, acme, "").Code, "an anonymous request has the tenant's limit only")
	// alice's refused request did not spend the tenant's budget: 4 spent.
	assert.Equal(t, http.StatusNoContent, serve(h, acme, "").Code)
	assert.Equal(t, http.StatusTooManyRequests, serve(h, acme, "carol").Code, "the tenant's limit bounds every user")
}

func TestUserKeysAreEscapedAndBounded(t *testing.T) {
	a, b := tenanttest.NewTenant("a").ID, tenanttest.NewTenant("b").ID
	seen := map[string]string{}
	for _, u := range []string{"alice", "Alice", "al%69ce", "al:ice", "al%3Aice", "a\x00", "a\n", "ünï", "{x}", "*", " ", "a/b", "..", strings.Repeat("x", ratelimit.MaxUserLen)} {
		k, err := ratelimit.UserKey(a, u)
		require.NoError(t, err, "%q", u)
		assert.True(t, strings.HasPrefix(k, "tw:rl:"+a+":u:"), k)
		assert.NotContains(t, k[len("tw:rl:"+a+":u:"):], ":", "the user part of %q holds a separator", u)
		assert.NotContains(t, k, b)
		if prev, dup := seen[k]; dup {
			t.Errorf("users %q and %q share key %q", prev, u, k)
		}
		seen[k] = u
	}
	for _, u := range []string{"", strings.Repeat("x", ratelimit.MaxUserLen+1)} {
		_, err := ratelimit.UserKey(a, u)
		assert.ErrorIs(t, err, ratelimit.ErrInvalidUser)
	}
	for _, id := range []string{"", "acme", a + ":u:x", strings.ToUpper(a), "../" + a} {
		_, err := ratelimit.TenantKey(id)
		assert.ErrorIs(t, err, tenant.ErrInvalidID, "%q", id)
		_, err = ratelimit.UserKey(id, "alice")
		assert.ErrorIs(t, err, tenant.ErrInvalidID, "%q", id)
	}
}

func FuzzUserKey(f *testing.F) {
	a, b := tenanttest.NewTenant("a").ID, tenanttest.NewTenant("b").ID
	for _, s := range []string{"alice", ":", "%3A", b, ":u:" + b, "\xff"} {
		f.Add(s, s+"x")
	}
	f.Fuzz(func(t *testing.T, u, v string) {
		ka, err := ratelimit.UserKey(a, u)
		if err != nil {
			return
		}
		if !strings.HasPrefix(ka, "tw:rl:"+a+":u:") || strings.ContainsAny(ka[len("tw:rl:"+a+":u:"):], ":{}* \x00\n") {
			t.Fatalf("key %q for user %q", ka, u)
		}
		if kb, err := ratelimit.UserKey(b, v); err == nil && kb == ka {
			t.Fatalf("tenants share key %q", ka)
		}
		if kv, err := ratelimit.UserKey(a, v); err == nil && u != v && kv == ka {
			t.Fatalf("users %q and %q share key %q", u, v, ka)
		}
	})
}

func TestWithoutATenantNothingIsServed(t *testing.T) {
	store := &recordingStore{Store: memory(t)}
	lim, err := ratelimit.New(store, func(context.Context, tenant.Tenant) (ratelimit.Policy, error) {
		return ratelimit.Policy{Tenant: ratelimit.Limit{Rate: 1, Burst: 1, Period: time.Second}}, nil
	})
	require.NoError(t, err)
	_, err = lim.Allow(context.Background(), "")
	assert.ErrorIs(t, err, tenant.ErrNoTenant)
	assert.Equal(t, http.StatusServiceUnavailable, serve(lim.Middleware(ok), tenant.Tenant{}, "").Code)
	assert.Empty(t, store.keys, "nothing was counted without a tenant")
}

func TestAPolicyFailureIsNotUnlimited(t *testing.T) {
	acme := tenanttest.NewTenant("acme")
	lim, err := ratelimit.New(memory(t), plans(nil))
	require.NoError(t, err)
	_, err = lim.Allow(tenant.NewContext(context.Background(), acme), "")
	assert.ErrorIs(t, err, ratelimit.ErrPolicy)
	assert.Equal(t, http.StatusServiceUnavailable, serve(lim.Middleware(ok), acme, "").Code)

	bad, err := ratelimit.New(memory(t), plans(map[string]ratelimit.Policy{acme.ID: {Tenant: ratelimit.Limit{Rate: -1, Burst: 1, Period: time.Second}}}))
	require.NoError(t, err)
	_, err = bad.Allow(tenant.NewContext(context.Background(), acme), "")
	assert.ErrorIs(t, err, ratelimit.ErrPolicy)
}

func TestAZeroPolicyIsUnlimitedAndSetsNoHeaders(t *testing.T) {
	acme := tenanttest.NewTenant("acme")
	lim, err := ratelimit.New(memory(t), plans(map[string]ratelimit.Policy{acme.ID: {}}))
	require.NoError(t, err)
	d, err := lim.Allow(tenant.NewContext(context.Background(), acme), "alice")
	require.NoError(t, err)
	assert.True(t, d.Allowed && d.Unlimited)
	rec := serve(lim.Middleware(ok), acme, "")
	assert.Equal(t, http.StatusNoContent, rec.Code)
	assert.Empty(t, rec.Header().Get("RateLimit"))
}

func TestNewRefusesBadOptions(t *testing.T) {
	p := plans(nil)
	for name, err := range map[string]error{
		"nil store":  func() error { _, err := ratelimit.New(nil, p); return err }(),
		"nil policy": func() error { _, err := ratelimit.New(memory(t), nil); return err }(),
		"nil user":   func() error { _, err := ratelimit.New(memory(t), p, ratelimit.WithUser(nil)); return err }(),
		"nil deny":   func() error { _, err := ratelimit.New(memory(t), p, ratelimit.WithDenyHandler(nil)); return err }(),
		"nil error":  func() error { _, err := ratelimit.New(memory(t), p, ratelimit.WithErrorHandler(nil)); return err }(),
		"nil logger": func() error { _, err := ratelimit.New(memory(t), p, ratelimit.WithLogger(nil)); return err }(),
		"zero keys":  func() error { _, err := ratelimit.NewMemoryStore(ratelimit.WithMaxKeys(0)); return err }(),
		"nil redis":  func() error { _, err := ratelimit.NewRedisStore(nil); return err }(),
	} {
		assert.True(t, errors.Is(err, ratelimit.ErrConfig), "%s: %v", name, err)
	}
}

func TestTheMemoryStoreForgetsRefilledKeysAndStaysBounded(t *testing.T) {
	l := ratelimit.Limit{Rate: 1, Burst: 1, Period: time.Second}
	t.Run("the bound holds", func(t *testing.T) {
		s, err := ratelimit.NewMemoryStore(ratelimit.WithMaxKeys(64 * 4))
		require.NoError(t, err)
		for i := range 10_000 {
			_, err := s.AllowN(context.Background(), fmt.Sprint("k", i), l, 1)
			require.NoError(t, err)
		}
		assert.LessOrEqual(t, ratelimit.MemoryKeys(s), 64*4)
	})
	t.Run("refilled keys are swept", func(t *testing.T) {
		s := memory(t)
		var now time.Duration
		ratelimit.SetMemoryClock(s, func() time.Duration { return now })
		for i := range 10_000 {
			_, err := s.AllowN(context.Background(), fmt.Sprint("old", i), l, 1)
			require.NoError(t, err)
		}
		now += 2 * time.Minute
		for i := range 2_000 { // touches every shard
			_, err := s.AllowN(context.Background(), fmt.Sprint("new", i), l, 1)
			require.NoError(t, err)
		}
		assert.LessOrEqual(t, ratelimit.MemoryKeys(s), 2_000+64, "the old keys, all refilled, are gone")
	})
}

// Anonymous requests, which anyone (another tenant's user included) can
// send to a tenant's host, cannot use up the budget of the tenant's
// signed-in users when the policy bounds them on their own.
func TestAnonymousRequestsCannotSpendTheSignedInUsersBudget(t *testing.T) {
	acme := tenanttest.NewTenant("acme")
	lim, err := ratelimit.New(memory(t), plans(map[string]ratelimit.Policy{acme.ID: {
		Tenant:    ratelimit.Limit{Rate: 1, Burst: 3, Period: time.Hour},
		User:      ratelimit.Limit{Rate: 1, Burst: 2, Period: time.Hour},
		Anonymous: ratelimit.Limit{Rate: 1, Burst: 2, Period: time.Hour},
	}}), ratelimit.WithUser(testUser))
	require.NoError(t, err)
	h := lim.Middleware(ok)
	assert.Equal(t, http.StatusNoContent, serve(h, acme, "").Code)
	rec := serve(h, acme, "")
	assert.Equal(t, http.StatusNoContent, rec.Code)
	assert.Equal(t, `"anonymous";q=2;w=7200`, rec.Header().Get("RateLimit-Policy"))
	for range 5 {
		assert.Equal(t, http.StatusTooManyRequests, serve(h, acme, "").Code, "anonymous requests are over their limit")
	}
	assert.Equal(t, http.StatusNoContent, serve(h, acme, "alice").Code, "the tenant's budget is untouched")
	assert.Equal(t, http.StatusNoContent, serve(h, acme, "bob").Code)
	assert.Equal(t, http.StatusNoContent, serve(h, acme, "carol").Code)
	assert.Equal(t, http.StatusTooManyRequests, serve(h, acme, "dave").Code, "signed-in users still share the tenant's limit")
}
