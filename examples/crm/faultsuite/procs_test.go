package faultsuite

import (
	"strings"
	"testing"
	"time"

	"github.com/tenantwall/tenantwall/internal/testenv"
)

// pollEvery is how often the suite checks on outside processes, which
// send no notification (testenv.Poll).
const pollEvery = 50 * time.Millisecond

// hold keeps a fault in place for d while the load runs against it. It is
// the fault's duration, not a synchronisation.
func hold(d time.Duration) { <-time.After(d) }

// missing skips the test for want, a program or user the suite needs, or
// fails it when services are required (TENANTWALL_REQUIRE_SERVICES=1).
func missing(t testing.TB, want string, err error) {
	t.Helper()
	if testenv.Required() {
		t.Fatalf("fault suite: %s is required (%s=1) but missing: %v", want, testenv.RequireEnv, err)
	}
	t.Skipf("skipping the fault suite: %s is missing: %v", want, err)
}

// pgCluster is a PostgreSQL cluster of the suite's own
// (testenv.StartPostgresCluster), with room for the pool-exhaustion
// scenario's connections.
type pgCluster struct{ *testenv.PostgresCluster }

// startPostgres starts the suite's cluster, stopped when the test ends.
func startPostgres(t testing.TB) *pgCluster {
	t.Helper()
	return &pgCluster{testenv.StartPostgresCluster(t, "max_connections=100")}
}

// url is the cluster's URL for role on database db.
func (c *pgCluster) url(role, db string) string { return c.URL(role, db) }

// tail returns the last n lines of b.
func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
