package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// PostgresCluster is a PostgreSQL cluster of the test's own, initdb'd in
// a temporary directory, listening on a free loopback port without a Unix
// socket, with trust authentication for its superuser postgres. It is
// stopped when the test ends. Use it where a test needs a second server
// (tenants placed across databases); everything else uses the shared
// server through PostgresDB.
type PostgresCluster struct {
	bin  string
	dir  string
	port int
	cred *syscall.Credential
}

// StartPostgresCluster starts a PostgresCluster. It finds initdb, pg_ctl
// and postgres in TENANTWALL_PG_BINDIR, /usr/lib/postgresql/*/bin (newest
// first) or on PATH; without them the test is skipped, or failed when
// services are required. Run as root, the cluster runs as the
// operating-system user postgres. Each of settings, "name=value", is
// passed to the server as -c name=value after the defaults
// (max_connections=50, fsync=off), so it overrides them.
func StartPostgresCluster(t testing.TB, settings ...string) *PostgresCluster {
	t.Helper()
	bin, err := pgBinDir()
	if err != nil {
		Unavailable(t, "PostgreSQL server binaries", err)
	}
	base := t.TempDir()
	c := &PostgresCluster{bin: bin, dir: filepath.Join(base, "pg"), port: FreePort(t)}
	if err := os.Mkdir(c.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	// initdb and postgres refuse root.
	c.cred = postgresCredential(t, "PostgreSQL", c.dir)
	c.run(t, "initdb", "-D", c.data(), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
	opts := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -c max_connections=50 -c unix_socket_directories='' -c fsync=off", c.port)
	for _, kv := range settings {
		opts += " -c " + kv
	}
	c.run(t, "pg_ctl", "-D", c.data(), "-l", c.logPath(), "-w", "-t", "60", "-o", opts, "start")
	t.Cleanup(func() {
		// A stalled cluster (SignalAll(SIGSTOP)) must not stay frozen
		// for the stop.
		c.SignalAll(syscall.SIGCONT)
		if out, err := c.cmd("pg_ctl", "-D", c.data(), "-m", "immediate", "-w", "-t", "30", "stop").CombinedOutput(); err != nil {
			t.Errorf("stop PostgreSQL: %v\n%s", err, out)
		}
	})
	return c
}

// postgresCredential returns nil unless the test runs as root. As root, it
// returns the operating-system user postgres to run program (one that
// refuses root) as, gives that user dir, and lets it traverse (not list)
// the test's temporary directories above dir; without such a user the
// test is skipped, or failed when services are required.
func postgresCredential(t testing.TB, program, dir string) *syscall.Credential {
	t.Helper()
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		Unavailable(t, `an operating-system user "postgres" to run `+program+` as (the test runs as root)`, err)
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	base := filepath.Dir(dir)
	for _, d := range []string{filepath.Dir(base), base} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(dir, int(uid), int(gid)); err != nil {
		t.Fatal(err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}
}

// URL is the cluster's URL for role (its superuser is postgres) on
// database db (postgres exists from the start).
func (c *PostgresCluster) URL(role, db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", role, c.port, db)
}

func (c *PostgresCluster) data() string    { return filepath.Join(c.dir, "data") }
func (c *PostgresCluster) logPath() string { return filepath.Join(c.dir, "log") }

// cmd prepares a PostgreSQL program, run as the cluster's user. Its
// output is read for at most 5 s after it exits: the postmaster pg_ctl
// starts would otherwise hold the pipe (every pg_ctl call passes -l).
func (c *PostgresCluster) cmd(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	cmd.WaitDelay = 5 * time.Second
	cmd.Dir = c.dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "LC_ALL=C", "HOME=" + c.dir}
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	return cmd
}

// run runs a PostgreSQL program and fails the test, with the end of the
// server log, when it fails.
func (c *PostgresCluster) run(t testing.TB, name string, args ...string) {
	t.Helper()
	if out, err := c.cmd(name, args...).CombinedOutput(); err != nil {
		log, _ := os.ReadFile(c.logPath())
		t.Fatalf("%s %s: %v\n%s\nserver log:\n%s", name, strings.Join(args, " "), err, out, tail(log, 40))
	}
}

// Restart is "pg_ctl restart -m fast": it returns once the new
// postmaster accepts connections.
func (c *PostgresCluster) Restart(t testing.TB) {
	t.Helper()
	c.run(t, "pg_ctl", "-D", c.data(), "-l", c.logPath(), "-m", "fast", "-w", "-t", "60", "restart")
}

// SignalAll sends sig to the postmaster, then to each of its children,
// and returns how many processes it reached. A stopped postmaster forks
// no new child, so for SIGSTOP the list of children read after it is
// complete: SignalAll(SIGSTOP) stalls the whole server, SIGCONT resumes it.
func (c *PostgresCluster) SignalAll(sig syscall.Signal) int {
	pid, err := c.postmasterPID()
	if err != nil {
		return 0
	}
	n := 0
	if syscall.Kill(pid, sig) == nil {
		n++
	}
	for _, child := range childPIDs(pid) {
		if syscall.Kill(child, sig) == nil {
			n++
		}
	}
	return n
}

// postmasterPID reads the running postmaster's PID from postmaster.pid.
func (c *PostgresCluster) postmasterPID() (int, error) {
	b, err := os.ReadFile(filepath.Join(c.data(), "postmaster.pid"))
	if err != nil {
		return 0, err
	}
	first, _, _ := strings.Cut(string(b), "\n")
	return strconv.Atoi(strings.TrimSpace(first))
}

// childPIDs lists the processes whose parent is ppid, from /proc.
func childPIDs(ppid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// The command name in parentheses may hold spaces: fields start
		// after its closing parenthesis ("state ppid …").
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(ppid) {
			out = append(out, pid)
		}
	}
	return out
}

// tail returns the last n lines of b.
func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// pgBinDir finds a directory holding initdb, pg_ctl and postgres.
func pgBinDir() (string, error) {
	var candidates []string
	if d := os.Getenv("TENANTWALL_PG_BINDIR"); d != "" {
		candidates = append(candidates, d)
	}
	versions, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Sort(sort.Reverse(sort.StringSlice(versions)))
	candidates = append(candidates, versions...)
	if p, err := exec.LookPath("initdb"); err == nil {
		candidates = append(candidates, filepath.Dir(p))
	}
	for _, dir := range candidates {
		ok := true
		for _, bin := range []string{"initdb", "pg_ctl", "postgres"} {
			if st, err := os.Stat(filepath.Join(dir, bin)); err != nil || st.IsDir() {
				ok = false
			}
		}
		if ok {
			return dir, nil
		}
	}
	return "", errors.New("initdb, pg_ctl and postgres not found (TENANTWALL_PG_BINDIR, /usr/lib/postgresql/*/bin, PATH); on Debian: apt-get install postgresql")
}
