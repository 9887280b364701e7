package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/sqlscope"
	"github.com/tenantwall/tenantwall/sqlscope/sqlscopetest"
	"github.com/tenantwall/tenantwall/sqlscope/sqlstore"
	"github.com/tenantwall/tenantwall/tenant"
	"github.com/tenantwall/tenantwall/tenant/tenanttest"
)

const baseDomain = "notes.test"

// required: in CI a missing service fails the test instead of skipping it.
var required = os.Getenv("TENANTWALL_REQUIRE_SERVICES") == "1"

func envOrDefault(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// testService prepares the notes service on a throwaway database and
// returns its database, Redis client and two tenants.
func testService(t *testing.T) (*sqlscopetest.Database, *redis.Client, []tenant.Tenant) {
	t.Helper()
	rdb := testRedis(t)
	// readme:testdb
	// required := os.Getenv("TENANTWALL_REQUIRE_SERVICES") == "1": in CI,
	// fail instead of skipping when PostgreSQL is unreachable.
	db := sqlscopetest.NewDatabase(t, envOrDefault("TENANTWALL_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"),
		sqlscopetest.WithRequired(required))
	ctx := context.Background()
	require.NoError(t, migrate(ctx, db.Owner)) // as the owner role
	// Tenants are created in the registry by the owner (the application
	// role only reads it); random slugs and IDs keep parallel runs apart.
	registry, err := sqlstore.New(db.Owner, sqlscope.Postgres)
	require.NoError(t, err)
	var tenants []tenant.Tenant
	for _, prefix := range []string{"acme", "globex"} {
		tn := tenanttest.NewTenant(tenanttest.RandomSlug(prefix))
		require.NoError(t, registry.Create(ctx, tn))
		tenants = append(tenants, tn)
	}
	// readme:end
	return db, rdb, tenants
}

// testRedis returns a client of the test Redis. Keys are in random
// tenants' namespaces; nothing is flushed.
func testRedis(t *testing.T) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(envOrDefault("TENANTWALL_REDIS_URL", "redis://127.0.0.1:6379/0"))
	require.NoError(t, err)
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		if required {
			t.Fatalf("Redis is required: %v", err)
		}
		t.Skipf("skipping: Redis unavailable: %v", err)
	}
	return rdb
}

// serve builds the service's handler as the application role.
func serve(t *testing.T, db *sqlscopetest.Database, rdb *redis.Client) http.Handler {
	t.Helper()
	h, stop, err := newHandler(context.Background(), db.App, rdb, baseDomain)
	require.NoError(t, err)
	t.Cleanup(func() { stop() })
	return h
}

func TestNotesKeepsTenantsApart(t *testing.T) {
	db, rdb, tenants := testService(t)
	h := serve(t, db, rdb) // newHandler with db.App

	// readme:kit
	tenanttest.RunHTTPTests(t, tenanttest.HTTPSuite{
		Handler: h,
		Tenants: func(*tenanttest.Server) ([]tenanttest.HTTPTenant, error) {
			var out []tenanttest.HTTPTenant
			for _, tn := range tenants {
				// No sign-in: the host alone selects the tenant.
				out = append(out, tenanttest.HTTPTenant{Name: tn.Slug, Host: tn.Slug + "." + baseDomain, Secrets: []string{tn.ID}})
			}
			return out, nil
		},
		Endpoints: []tenanttest.Endpoint{{
			Name:        "notes",
			Collection:  "/notes/",
			Item:        func(id string) string { return "/notes/" + id + "/" },
			Create:      func(m string) map[string]any { return map[string]any{"title": m} },
			Update:      map[string]any{"title": "changed by another tenant"},
			TenantField: "tenant_id",
		}},
		Cached: []tenanttest.CachedEndpoint{{Name: "stats", Path: "/stats/"}},
	})
	// readme:end
}

func TestNotesRefusesToServeAsAPrivilegedRole(t *testing.T) {
	db, rdb, _ := testService(t)
	// The owner role owns the notes table: row level security would not
	// bind it (FORCE aside, it could turn RLS off).
	_, _, err := newHandler(context.Background(), db.Owner, rdb, baseDomain)
	assert.ErrorIs(t, err, sqlscope.ErrPrivilegedRole)
	assert.ErrorContains(t, err, db.OwnerRole, "the error names the role")
}

func TestAnUnknownHostIsNotFound(t *testing.T) {
	db, rdb, _ := testService(t)
	h := serve(t, db, rdb)
	for _, host := range []string{"nobody." + baseDomain, baseDomain, "127.0.0.1", "evil.example"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "http://"+host+"/notes/", nil))
		assert.Equal(t, http.StatusNotFound, rec.Code, host)
	}
}
