package faultsuite

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

	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/internal/testenv"
)

// waitUntil polls cond every 50 ms until it holds or d has passed: the
// suite waits for outside processes, which send no notification.
func waitUntil(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		<-tick.C
	}
}

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

// pgCluster is a PostgreSQL cluster of the suite's own, in a temporary
// directory, listening on 127.0.0.1 only and without a Unix socket.
type pgCluster struct {
	t    testing.TB
	bin  string
	dir  string // owned by the cluster's user; holds data/ and log
	port int
	cred *syscall.Credential // the cluster's user when the test runs as root
}

// startPostgres initdbs and starts a cluster, stopped when the test ends.
func startPostgres(t testing.TB) *pgCluster {
	t.Helper()
	bin, err := pgBinDir()
	if err != nil {
		missing(t, "PostgreSQL server binaries", err)
	}
	base := t.TempDir()
	c := &pgCluster{t: t, bin: bin, dir: filepath.Join(base, "pg"), port: testenv.FreePort(t)}
	require.NoError(t, os.Mkdir(c.dir, 0o700))
	if os.Geteuid() == 0 {
		// initdb and postgres refuse root. Run them as the postgres user,
		// which must be able to reach its directory: the test's temporary
		// directories are 0700, so let others traverse (not list) them.
		u, err := user.Lookup("postgres")
		if err != nil {
			missing(t, "an operating-system user \"postgres\" to run PostgreSQL as (the test runs as root)", err)
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}
		for _, d := range []string{filepath.Dir(base), base} {
			require.NoError(t, os.Chmod(d, 0o711))
		}
		require.NoError(t, os.Chown(c.dir, int(uid), int(gid)))
	}
	c.run(t, "initdb", "-D", c.data(), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
	c.run(t, "pg_ctl", "-D", c.data(), "-l", c.logPath(), "-w", "-t", "60", "-o",
		fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -c max_connections=100 -c unix_socket_directories=''", c.port), "start")
	t.Cleanup(func() {
		// A failed stall must not leave the cluster frozen for the stop.
		c.signalAll(syscall.SIGCONT)
		if out, err := c.cmd("pg_ctl", "-D", c.data(), "-m", "immediate", "-w", "-t", "30", "stop").CombinedOutput(); err != nil {
			t.Errorf("stop PostgreSQL: %v\n%s", err, out)
		}
	})
	return c
}

func (c *pgCluster) data() string    { return filepath.Join(c.dir, "data") }
func (c *pgCluster) logPath() string { return filepath.Join(c.dir, "log") }

// url is the cluster's URL for role on database db.
func (c *pgCluster) url(role, db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", role, c.port, db)
}

// cmd prepares a PostgreSQL program, run as the cluster's user. Its
// output is read for at most 5 s after it exits: a postmaster that pg_ctl
// starts inherits the pipe and would otherwise hold the test. (Every
// pg_ctl call passes -l, so none does.)
func (c *pgCluster) cmd(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	cmd.WaitDelay = 5 * time.Second
	cmd.Dir = c.dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "LC_ALL=C", "HOME=" + c.dir}
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	return cmd
}

// run runs a PostgreSQL program and fails the test, with the server log,
// when it fails.
func (c *pgCluster) run(t testing.TB, name string, args ...string) {
	t.Helper()
	if out, err := c.cmd(name, args...).CombinedOutput(); err != nil {
		log, _ := os.ReadFile(c.logPath())
		t.Fatalf("%s %s: %v\n%s\nserver log:\n%s", name, strings.Join(args, " "), err, out, tail(log, 40))
	}
}

// restart is "pg_ctl restart -m fast": it returns once the new postmaster
// accepts connections.
func (c *pgCluster) restart(t testing.TB) {
	t.Helper()
	c.run(t, "pg_ctl", "-D", c.data(), "-l", c.logPath(), "-m", "fast", "-w", "-t", "60", "restart")
}

// postmasterPID reads the running postmaster's PID from postmaster.pid.
func (c *pgCluster) postmasterPID() (int, error) {
	b, err := os.ReadFile(filepath.Join(c.data(), "postmaster.pid"))
	if err != nil {
		return 0, err
	}
	first, _, _ := strings.Cut(string(b), "\n")
	return strconv.Atoi(strings.TrimSpace(first))
}

// signalAll sends sig to the postmaster, then to each of its children. A
// stopped postmaster forks no new child, so for SIGSTOP the list of
// children read after it is complete.
func (c *pgCluster) signalAll(sig syscall.Signal) int {
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
