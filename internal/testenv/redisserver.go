package testenv

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// FreePort returns a loopback port nobody listened on a moment ago. A
// server binds it right after; another process taking it in between makes
// that start fail loudly, never share a server.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// RedisServer is a redis-server of the test's own on a free loopback
// port, never the shared one, so that the test may stop, pause and
// restart it. It does not save on its own: a restart starts empty unless
// the test called Save. It is killed when the test ends (and with the test
// process). Safe for concurrent use.
type RedisServer struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// StartRedisServer starts a RedisServer. Without redis-server on PATH the
// test is skipped, or failed when services are required.
func StartRedisServer(t testing.TB) *RedisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		Unavailable(t, "redis-server (on PATH; on Debian: apt-get install redis-server)", err)
	}
	r := &RedisServer{t: t, bin: bin, dir: t.TempDir(), port: FreePort(t)}
	r.Start()
	t.Cleanup(r.Kill)
	return r
}

// Addr is the server's host:port.
func (r *RedisServer) Addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }

// URL is the server's redis:// URL, database 0.
func (r *RedisServer) URL() string { return "redis://" + r.Addr() + "/0" }

// Start runs the server and returns once it answers PING. It loads the
// snapshot a Save left, if any.
func (r *RedisServer) Start() {
	r.t.Helper()
	out := &lockedBuffer{}
	cmd := exec.Command(r.bin, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.dir, "--dbfilename", "dump.rdb", "--daemonize", "no")
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		r.t.Fatalf("redis-server: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	r.mu.Lock()
	r.cmd, r.done = cmd, done
	r.mu.Unlock()

	c := redis.NewClient(&redis.Options{Addr: r.Addr(), MaxRetries: -1})
	defer c.Close()
	if err := waitReady("redis-server on "+r.Addr(), 10*time.Second, done, pingable(c), out.String); err != nil {
		r.t.Fatal(err)
	}
}

// pingable is a waitReady check: the server answers PING.
func pingable(c *redis.Client) func() error {
	return func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return c.Ping(ctx).Err()
	}
}

// Kill stops the server at once: what it did not save is lost.
func (r *RedisServer) Kill() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	<-r.done
	r.cmd = nil
}

// RestartEmpty kills the server and starts an empty one on the same port,
// as a Redis without persistence comes back.
func (r *RedisServer) RestartEmpty() {
	r.t.Helper()
	r.Kill()
	if err := os.Remove(filepath.Join(r.dir, "dump.rdb")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		r.t.Fatal(err)
	}
	r.Start()
}

// Save writes a snapshot that the next Start loads.
func (r *RedisServer) Save() {
	r.t.Helper()
	c := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer c.Close()
	if err := c.Save(context.Background()).Err(); err != nil {
		r.t.Fatal(err)
	}
}

// RestartFromSnapshot kills the server and starts it from the last Save:
// every write since is lost, as in a failover to a replica that lags.
func (r *RedisServer) RestartFromSnapshot() {
	r.t.Helper()
	r.Kill()
	r.Start()
}

// Signal sends sig to the server (SIGSTOP and SIGCONT: a stalled Redis
// that keeps its data).
func (r *RedisServer) Signal(sig syscall.Signal) {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.cmd.Process.Signal(sig); err != nil {
		r.t.Fatal(err)
	}
}
