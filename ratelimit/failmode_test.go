package ratelimit_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/internal/testenv"
	"github.com/tenantwall/tenantwall/ratelimit"
	"github.com/tenantwall/tenantwall/tenant"
	"github.com/tenantwall/tenantwall/tenant/tenanttest"
)

// TestRedisUnreachable stops a real redis-server of the test's own and
// checks both documented behaviours: fail closed (503, nothing served
// uncounted) and fail open (served, without RateLimit headers).
func TestRedisUnreachable(t *testing.T) {
	srv := testenv.StartRedisServer(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { rdb.Close() })
	store, err := ratelimit.NewRedisStore(rdb)
	require.NoError(t, err)
	acme := tenanttest.NewTenant("acme")
	policy := plans(map[string]ratelimit.Policy{acme.ID: {Tenant: ratelimit.Limit{Rate: 100, Burst: 100, Period: time.Minute}}})
	closed, err := ratelimit.New(store, policy)
	require.NoError(t, err)
	open, err := ratelimit.New(store, policy, ratelimit.WithFailOpen(true))
	require.NoError(t, err)

	for name, lim := range map[string]*ratelimit.Limiter{"closed": closed, "open": open} {
		rec := serve(lim.Middleware(ok), acme, "")
		require.Equal(t, http.StatusNoContent, rec.Code, "%s, Redis up", name)
		require.NotEmpty(t, rec.Header().Get("RateLimit"), "%s, Redis up: counted", name)
	}

	srv.Kill()
	t.Run("fail closed refuses with 503 and Retry-After", func(t *testing.T) {
		rec := serve(closed.Middleware(ok), acme, "")
		assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
		assert.NotEmpty(t, rec.Header().Get("Retry-After"))
		_, err := closed.Allow(tenant.NewContext(context.Background(), acme), "")
		assert.ErrorIs(t, err, ratelimit.ErrStore)
	})
	t.Run("fail open serves the request uncounted", func(t *testing.T) {
		rec := serve(open.Middleware(ok), acme, "")
		assert.Equal(t, http.StatusNoContent, rec.Code)
		assert.Empty(t, rec.Header().Get("RateLimit"), "nothing was counted, so no quota is claimed")
		d, err := open.Allow(tenant.NewContext(context.Background(), acme), "")
		require.NoError(t, err)
		assert.True(t, d.Allowed && d.Unlimited)
	})

	srv.Start()
	t.Run("both count again once Redis is back", func(t *testing.T) {
		for name, lim := range map[string]*ratelimit.Limiter{"closed": closed, "open": open} {
			rec := serve(lim.Middleware(ok), acme, "")
			assert.Equal(t, http.StatusNoContent, rec.Code, name)
			assert.NotEmpty(t, rec.Header().Get("RateLimit"), name)
		}
	})
}
