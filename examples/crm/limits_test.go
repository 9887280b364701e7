package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/blobstore"
	"github.com/tenantwall/tenantwall/internal/testenv"
	"github.com/tenantwall/tenantwall/ratelimit"
)

// withPlan adds a plan for one test: the CRM's tests do not run in
// parallel, and the plan is in place before the server starts.
func withPlan(t *testing.T, p plan) {
	plans[p.Name] = p
	t.Cleanup(func() { delete(plans, p.Name) })
}

func TestAPlanLimitsItsTenantsRequests(t *testing.T) {
	withPlan(t, plan{Name: "test-tiny", Limits: ratelimit.Policy{
		Tenant: ratelimit.Limit{Rate: 1, Burst: 3, Period: time.Hour},
		User:   ratelimit.Limit{Rate: 1, Burst: 2, Period: time.Hour},
	}})
	s := newServer(t, "sqlite", "-plans", "globex=test-tiny,acme=pro")
	globex := s.client(t, "globex.localhost")
	for i := range 3 {
		code, _, hdr := globex.do("GET", "/api/tenant-branding/", nil, "")
		require.Equal(t, http.StatusOK, code, "request %d", i+1)
		assert.Equal(t, `"tenant";q=3;w=10800`, hdr.Get("RateLimit-Policy"))
		assert.Equal(t, fmt.Sprintf(`"tenant";r=%d;t=%d`, 2-i, 3600*(i+1)), hdr.Get("RateLimit"))
	}
	code, body, hdr := globex.do("GET", "/api/tenant-branding/", nil, "")
	assert.Equal(t, http.StatusTooManyRequests, code)
	assert.JSONEq(t, `{"error":"rate limit exceeded"}`, string(body))
	assert.Equal(t, "3600", hdr.Get("Retry-After"))
	assert.Equal(t, `"tenant";r=0;t=10800`, hdr.Get("RateLimit"), "t: until the burst is whole again")

	code, _, hdr = s.client(t, "acme.localhost").do("GET", "/api/tenant-branding/", nil, "")
	assert.Equal(t, http.StatusOK, code, "globex's limit is not acme's")
	assert.Equal(t, `"anonymous";q=1000;w=10`, hdr.Get("RateLimit-Policy"), "acme is on the pro plan, whose anonymous requests have a bucket of their own")

	t.Run("a tenant without a plan entry gets the default plan", func(t *testing.T) {
		s := newServer(t, "sqlite", "-plans", "", "-default-plan", "test-tiny")
		_, _, hdr := s.client(t, "acme.localhost").do("GET", "/api/tenant-branding/", nil, "")
		assert.Equal(t, `"tenant";q=3;w=10800`, hdr.Get("RateLimit-Policy"))
	})
	t.Run("an unknown plan stops the start", func(t *testing.T) {
		_, err := parsePlans("acme=platinum", "free")
		assert.Error(t, err)
		_, err = parsePlans("", "platinum")
		assert.Error(t, err)
	})
}

func TestEachSignedInUserHasALimitWithinTheTenant(t *testing.T) {
	withPlan(t, plan{Name: "test-users", Limits: ratelimit.Policy{
		Tenant: ratelimit.Limit{Rate: 1, Burst: 50, Period: time.Hour},
		User:   ratelimit.Limit{Rate: 1, Burst: 3, Period: time.Hour},
	}})
	s := newServer(t, "sqlite", "-plans", "acme=test-users")
	admin := s.client(t, "acme.localhost").login("admin@acme.test") // the login itself is anonymous
	for range 3 {
		code, _, _ := admin.do("GET", "/api/auth/me/", nil, "")
		require.Equal(t, http.StatusOK, code)
	}
	code, _, hdr := admin.do("GET", "/api/auth/me/", nil, "")
	assert.Equal(t, http.StatusTooManyRequests, code, "the user is over its own limit")
	assert.Contains(t, hdr.Get("RateLimit"), `"user";r=0`)
	code, _, _ = s.client(t, "acme.localhost").do("GET", "/api/tenant-branding/", nil, "")
	assert.Equal(t, http.StatusOK, code, "an anonymous request has the tenant's budget")
}

func TestAnUploadOverTheTenantsStorageQuotaIs413(t *testing.T) {
	withPlan(t, plan{Name: "test-storage", Files: blobstore.Quota{Bytes: 1000}})
	s := newServer(t, "sqlite", "-plans", "globex=test-storage")
	globex := s.client(t, "globex.localhost").login("admin@globex.test")
	code, list := globex.json("GET", "/api/documents/", nil)
	require.Equal(t, http.StatusOK, code)
	seeded := len(list["results"].([]any)) // the demo's own file counts too
	code, first := upload(t, globex, "/api/documents/", "file", "a.txt", "text/plain", strings.Repeat("a", 600), nil)
	require.Equal(t, http.StatusCreated, code, "%v", first)
	code, out := upload(t, globex, "/api/documents/", "file", "b.txt", "text/plain", strings.Repeat("b", 600), nil)
	assert.Equal(t, http.StatusRequestEntityTooLarge, code)
	assert.Contains(t, out["error"], "storage quota")
	code, list = globex.json("GET", "/api/documents/", nil)
	require.Equal(t, http.StatusOK, code)
	assert.Len(t, list["results"], seeded+1, "the refused file was not stored")

	acme := s.client(t, "acme.localhost").login("admin@acme.test")
	code, _ = upload(t, acme, "/api/documents/", "file", "b.txt", "text/plain", strings.Repeat("b", 600), nil)
	assert.Equal(t, http.StatusCreated, code, "globex's quota is not acme's")

}

func TestMetricsNameOnlyKnownTenants(t *testing.T) {
	s := newServer(t, "sqlite")
	acmeID := "0b4c1e9a-6f57-4a3e-8d8f-2f7c5a1d9e01"
	globexID := "5e2d8c77-1b0a-4f6e-9c3d-7a8b9c0d1e02" // the demo seeds a file for it
	acme := s.client(t, "acme.localhost").login("admin@acme.test")
	code, _, _ := acme.do("GET", "/api/dashboard/overview/", nil, "")
	require.Equal(t, http.StatusOK, code)
	_, _, _ = s.client(t, "forged-tenant-label.localhost").do("GET", "/api/leads/", nil, "")
	_, _, _ = s.client(t, "evil.example").do("GET", "/api/leads/", nil, "")

	op := s.client(t, "platform.localhost")
	code, _, _ = op.do("GET", "/metrics", nil, "")
	assert.Equal(t, http.StatusUnauthorized, code, "metrics are the operator's")
	op.token = "op-secret"
	code, body, _ := op.do("GET", "/metrics", nil, "")
	require.Equal(t, http.StatusOK, code)
	text := string(body)
	assert.Contains(t, text, `tenantwall_http_server_requests_total{http_status_class="2xx",`)
	assert.Contains(t, text, `tenant_id="`+acmeID+`"`)
	assert.Contains(t, text, `tenantwall_audit_events_total{audit_kind="unknown_host",`)
	assert.Contains(t, text, `tenantwall_cache_gets_total{cache_result="miss",`)
	assert.Contains(t, text, `tenantwall_resolve_cache_total{cache_result="hit",`)
	assert.Regexp(t, `tenantwall_http_server_request_duration_seconds_count\{http_status_class="2xx",[^}]*tenant_id="`+acmeID+`"`, text,
		"the duration histogram, kept by telemetry, reaches Prometheus through otelsdk.Producer")
	assert.NotContains(t, text, "forged-tenant-label")
	assert.NotContains(t, text, "evil.example")
	for _, line := range strings.Split(text, "\n") {
		if i := strings.Index(line, `tenant_id="`); i >= 0 {
			v := line[i+len(`tenant_id="`):]
			v = v[:strings.IndexByte(v, '"')]
			assert.Contains(t, []string{acmeID, globexID, "none", "overflow"}, v, "a tenant label that is no known tenant: %s", line)
		}
	}

	t.Run("on -metrics-addr without the token", func(t *testing.T) {
		addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
		s.app.cfg.metricsAddr = addr
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		require.NoError(t, s.app.serveMetrics(ctx))
		res, err := http.Get("http://" + addr + "/metrics")
		require.NoError(t, err)
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		assert.Equal(t, http.StatusOK, res.StatusCode)
		assert.Contains(t, string(b), "tenantwall_http_server_requests_total")
	})
}

func TestWithRedisEveryInstanceSharesATenantsLimit(t *testing.T) {
	testenv.Redis(t) // skips, or fails when services are required
	// A tenant of this run only, on a plan whose keys expire within a
	// minute: the Redis is shared with other tests.
	slug := "rl" + strings.ToLower(strings.ReplaceAll(testenv.Name("x"), "_", ""))
	withPlan(t, plan{Name: "test-shared", Limits: ratelimit.Policy{
		Tenant: ratelimit.Limit{Rate: 1, Burst: 3, Period: 10 * time.Second},
	}})
	args := []string{"-data", t.TempDir(), "-operator-token", "op-secret", "-bcrypt-cost", "4",
		"-redis", testenv.RedisURL(), "-plans", slug + "=test-shared"}
	one := startServer(t, args)
	op := one.client(t, "platform.localhost")
	op.token = "op-secret"
	code, created := op.json("POST", "/admin/api/tenants/", map[string]string{"slug": slug, "name": "Shared limits"})
	require.Equal(t, http.StatusCreated, code, "%v", created)
	two := startServer(t, args) // a second instance on the same database and Redis

	get := func(s *server) int {
		code, _, _ := s.client(t, slug+".localhost").do("GET", "/api/tenant-branding/", nil, "")
		return code
	}
	assert.Equal(t, http.StatusOK, get(one))
	assert.Equal(t, http.StatusOK, get(two))
	assert.Equal(t, http.StatusOK, get(one))
	assert.Equal(t, http.StatusTooManyRequests, get(two), "the second instance counts the first one's requests")
	assert.Equal(t, http.StatusTooManyRequests, get(one))
}
