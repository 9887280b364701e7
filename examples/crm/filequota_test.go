package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/blobstore"
	"github.com/tenantwall/tenantwall/internal/testenv"
)

// TestWithRedisEveryInstanceCountsAgainstOneStorageQuota runs two
// instances on one data directory (database and document bucket) and a
// Redis of the test's own (the demo tenants' IDs are fixed, so a shared
// Redis would mix runs): an upload through one counts in the other.
func TestWithRedisEveryInstanceCountsAgainstOneStorageQuota(t *testing.T) {
	srv := testenv.StartRedisServer(t)
	withPlan(t, plan{Name: "test-storage-shared", Files: blobstore.Quota{Bytes: 1000}})
	args := []string{"-data", t.TempDir(), "-operator-token", "op-secret", "-bcrypt-cost", "4",
		"-redis", srv.URL(), "-plans", "globex=test-storage-shared"}
	one := startServer(t, args)
	two := startServer(t, args)
	c1 := one.client(t, "globex.localhost").login("admin@globex.test")
	c2 := two.client(t, "globex.localhost").login("admin@globex.test")

	// Both instances have counted globex's use before the race.
	code, out := upload(t, c2, "/api/documents/", "file", "w.txt", "text/plain", "w", nil)
	require.Equal(t, http.StatusCreated, code, "%v", out)
	code, out = upload(t, c1, "/api/documents/", "file", "a.txt", "text/plain", strings.Repeat("a", 500), nil)
	require.Equal(t, http.StatusCreated, code, "%v", out)
	code, out = upload(t, c2, "/api/documents/", "file", "b.txt", "text/plain", strings.Repeat("b", 500), nil)
	assert.Equal(t, http.StatusRequestEntityTooLarge, code, "the second instance counts the first one's upload")
	assert.Contains(t, out["error"], "storage quota")
}
