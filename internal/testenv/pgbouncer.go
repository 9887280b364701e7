package testenv

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// PgBouncerEnv names a PgBouncer that tests use instead of starting their
// own: a postgres:// URL whose host and port are PgBouncer's (the rest is
// ignored). It must run in transaction pooling mode in front of the
// server at TENANTWALL_POSTGRES_URL, accept any database name (a "*"
// entry) and let the test roles in without a password (auth_type trust
// with an auth_user, as StartPgBouncer configures it).
const PgBouncerEnv = "TENANTWALL_PGBOUNCER_URL"

// PgBouncer is a PgBouncer in transaction pooling mode in front of the
// test PostgreSQL server: each transaction runs on whichever server
// connection is free, so consecutive transactions of one client meet
// other clients' sessions. It is safe for concurrent use.
type PgBouncer struct {
	addr string
	// PoolSize is the number of server connections per database and role
	// (default_pool_size), or 0 when PgBouncerEnv names an outside one.
	PoolSize int
}

// StartPgBouncer starts /usr/sbin/pgbouncer (or pgbouncer on PATH) on a
// free loopback port, in a temporary directory, with pool_mode
// transaction and poolSize server connections per database and role,
// in front of the server at TENANTWALL_POSTGRES_URL. Any role of that
// server logs in without a password (auth_type trust; PgBouncer looks
// roles up as the URL's user). It is stopped when the test ends. When
// PgBouncerEnv is set, that PgBouncer is used instead and poolSize is
// ignored. Without the binary the test is skipped, or failed when
// services are required.
func StartPgBouncer(t testing.TB, poolSize int) *PgBouncer {
	t.Helper()
	if raw := os.Getenv(PgBouncerEnv); raw != "" {
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			t.Fatalf("%s: want a postgres:// URL with PgBouncer's host and port, got %q", PgBouncerEnv, raw)
		}
		return &PgBouncer{addr: u.Host}
	}
	bin, err := exec.LookPath("pgbouncer")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/pgbouncer"); serr != nil {
			Unavailable(t, "pgbouncer (on PATH or /usr/sbin; on Debian: apt-get install pgbouncer)", err)
		}
		bin = "/usr/sbin/pgbouncer"
	}
	server, err := url.Parse(PostgresURL())
	if err != nil {
		t.Fatalf("%s: %v", PostgresEnv, err)
	}
	host, port := server.Hostname(), server.Port()
	if port == "" {
		port = "5432"
	}
	authUser := "postgres"
	if server.User != nil && server.User.Username() != "" {
		authUser = server.User.Username()
	}
	p := &PgBouncer{addr: "127.0.0.1:" + strconv.Itoa(FreePort(t)), PoolSize: poolSize}

	base := t.TempDir()
	dir := filepath.Join(base, "pgbouncer")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	// PgBouncer refuses to run as root.
	cred := postgresCredential(t, "pgbouncer", dir)
	_, listenPort, _ := net.SplitHostPort(p.addr)
	conf := fmt.Sprintf(`[databases]
* = host=%s port=%s

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %s
unix_socket_dir =
auth_type = trust
auth_file = %s
auth_user = %s
pool_mode = transaction
default_pool_size = %d
min_pool_size = 0
reserve_pool_size = 0
max_client_conn = 1000
max_db_connections = 0
server_round_robin = 1
ignore_startup_parameters = extra_float_digits
logfile = %s
pidfile = %s
`, host, port, listenPort, filepath.Join(dir, "users.txt"), authUser, poolSize,
		filepath.Join(dir, "pgbouncer.log"), filepath.Join(dir, "pgbouncer.pid"))
	files := map[string]string{
		"pgbouncer.ini": conf,
		// trust still wants the auth_user listed; every other role is
		// found through it.
		"users.txt": strconv.Quote(authUser) + ` ""` + "\n",
	}
	for name, body := range files {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if cred != nil {
			if err := os.Chown(path, int(cred.Uid), int(cred.Gid)); err != nil {
				t.Fatal(err)
			}
		}
	}

	out := &lockedBuffer{}
	cmd := exec.Command(bin, filepath.Join(dir, "pgbouncer.ini"))
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Credential: cred}
	if err := cmd.Start(); err != nil {
		t.Fatalf("pgbouncer: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT) // immediate shutdown
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	logs := func() string {
		b, _ := os.ReadFile(filepath.Join(dir, "pgbouncer.log"))
		return out.String() + string(b)
	}
	if err := waitReady("pgbouncer on "+p.addr, 10*time.Second, done, dialable(p.addr), logs); err != nil {
		t.Fatal(err)
	}
	return p
}

// Addr is PgBouncer's host:port.
func (p *PgBouncer) Addr() string { return p.addr }

// URL returns dbURL, a URL of the test PostgreSQL server (any database and
// role), pointed at PgBouncer instead, with pgx's default_query_exec_mode
// set to mode when mode is not empty ("exec", "simple_protocol",
// "describe_exec", "cache_describe" or "cache_statement").
func (p *PgBouncer) URL(t testing.TB, dbURL, mode string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatalf("pgbouncer: %v", err)
	}
	u.Host = p.addr
	q := u.Query()
	if mode != "" {
		q.Set("default_query_exec_mode", mode)
	}
	u.RawQuery = q.Encode()
	return u.String()
}
