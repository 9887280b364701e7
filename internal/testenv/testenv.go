// Package testenv gives tests the real services tenantwall is tested
// against, and decides what a test does when one is missing: skip with a
// clear message, or fail when TENANTWALL_REQUIRE_SERVICES=1 (CI sets it).
package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
)

// Environment variables and their defaults.
const (
	PostgresEnv     = "TENANTWALL_POSTGRES_URL"
	RedisEnv        = "TENANTWALL_REDIS_URL"
	RequireEnv      = "TENANTWALL_REQUIRE_SERVICES"
	DefaultPostgres = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	DefaultRedis    = "redis://127.0.0.1:6379/0"
)

// PostgresURL returns the PostgreSQL URL tests use.
func PostgresURL() string { return getenv(PostgresEnv, DefaultPostgres) }

// RedisURL returns the Redis URL tests use.
func RedisURL() string { return getenv(RedisEnv, DefaultRedis) }

// Required reports whether missing services fail tests instead of skipping.
func Required() bool { return os.Getenv(RequireEnv) == "1" }

// Unavailable skips t, or fails it when services are required, saying
// which service is missing and why.
func Unavailable(t testing.TB, service string, err error) {
	t.Helper()
	if Required() {
		t.Fatalf("%s is required (%s=1) but unreachable: %v", service, RequireEnv, err)
	}
	t.Skipf("skipping: %s unreachable (%v); start it or set %s/%s", service, err, PostgresEnv, RedisEnv)
}

// Name returns a random lowercase identifier with the given prefix, safe as
// a PostgreSQL schema, role or database name and as a Redis key part.
func Name(prefix string) string {
	var b [6]byte
	rand.Read(b[:])
	return prefix + "_" + hex.EncodeToString(b[:])
}

func getenv(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
