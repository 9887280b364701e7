// Package faultsuite is the fault suite of the reference CRM server
// (examples/crm) in PostgreSQL + Redis mode. It holds tests only.
//
// The suite builds the server, starts it as a subprocess on a PostgreSQL
// cluster and a Redis server of its own (initdb into a temporary
// directory, redis-server without persistence, each on a free loopback
// port, never the shared services), gives it 8 tenants with one user and a
// bearer token each, drives 64 clients of reads and writes across them,
// and injects one fault per subtest:
//
//   - Redis stopped, then restarted empty;
//   - PostgreSQL restarted (pg_ctl restart -m fast);
//   - PostgreSQL stalled for 5 s: SIGSTOP to the postmaster and every
//     backend, then SIGCONT; the server runs with -request-timeout 2s here,
//     so that requests caught in the stall must be answered during it;
//   - pool exhaustion: 128 clients against max_connections=100.
//
// Each subtest checks that no response ever carries another tenant's data
// or more than the tenant's own (no foreign or unscoped answer), that no
// acknowledged write is lost (every 201 lead is later listed by its
// tenant, and listed by every read sent after the 201), that no read is
// stale after recovery (the dashboard's lead count equals the list's
// within 5 s of a write), that every error is truthful (an answer is the
// operation's success code or 503 with Retry-After — never 401, 403, 404,
// 500 or no answer), and that the server answers only successes again
// within 30 s of the fault's end. It logs the time to recover: from the
// fault's end to the last answer that was not a success.
//
// # Running
//
// The suite runs only when TENANTWALL_FAULTS=1, because it takes about a
// minute of a 2-core machine; .ci/run sets it:
//
//	TENANTWALL_FAULTS=1 go test -race -count=1 -v -run '^TestFaults$' ./examples/crm/faultsuite/
//
// With -v it logs, per fault, the answers by status and phase (before,
// during, after the fault), their latencies, when answers other than
// successes arrived, the time to recover and the most PostgreSQL client
// backends seen. SECURITY.md ("Reliability") records these figures.
//
// It needs PostgreSQL's server binaries (initdb, pg_ctl, postgres; found
// through TENANTWALL_PG_BINDIR, /usr/lib/postgresql/*/bin or PATH) and
// redis-server on PATH. Without them it skips, saying what is missing, or
// fails when TENANTWALL_REQUIRE_SERVICES=1. Run as root, it runs the
// cluster as the "postgres" operating-system user, because initdb and
// postgres refuse to run as root.
package faultsuite
