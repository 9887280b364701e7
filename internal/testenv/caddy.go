package testenv

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// CaddyConfig is what a test sets on its Caddy: the Caddyfile and the
// environment it reads its settings from ({$NAME} placeholders).
type CaddyConfig struct {
	// Caddyfile is the path of the configuration to run.
	Caddyfile string
	// HTTPPort and HTTPSPort are set as CADDY_HTTP_PORT and
	// CADDY_HTTPS_PORT; the Caddyfile must use them.
	HTTPPort, HTTPSPort int
	// Env adds NAME=value settings.
	Env []string
}

// Caddy is a caddy of the test's own, bound to 127.0.0.1 (CADDY_BIND),
// with its storage (CADDY_STORAGE), home and XDG directories in the
// test's temp dir. It is killed when the test ends.
type Caddy struct {
	out *lockedBuffer
}

// StartCaddy starts caddy run on cfg and returns once its HTTPS port
// accepts connections. Without caddy on PATH the test is skipped, or
// failed when services are required.
func StartCaddy(t testing.TB, cfg CaddyConfig) *Caddy {
	t.Helper()
	bin, err := exec.LookPath("caddy")
	if err != nil {
		Unavailable(t, "caddy (on PATH; on Debian: apt-get install caddy)", err)
	}
	dir := t.TempDir()
	c := &Caddy{out: &lockedBuffer{}}
	cmd := exec.Command(bin, "run", "--config", cfg.Caddyfile, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(),
		"HOME="+dir, "XDG_CONFIG_HOME="+filepath.Join(dir, "config"), "XDG_DATA_HOME="+filepath.Join(dir, "data"),
		"CADDY_BIND=127.0.0.1", "CADDY_STORAGE="+filepath.Join(dir, "storage"),
		"CADDY_HTTP_PORT="+strconv.Itoa(cfg.HTTPPort), "CADDY_HTTPS_PORT="+strconv.Itoa(cfg.HTTPSPort))
	cmd.Env = append(cmd.Env, cfg.Env...)
	cmd.Stdout, cmd.Stderr = c.out, c.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("caddy: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("caddy log:\n%s", c.Log())
		}
	})
	addr := "127.0.0.1:" + strconv.Itoa(cfg.HTTPSPort)
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-done:
			t.Fatalf("caddy exited:\n%s", c.Log())
		default:
		}
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("caddy did not listen on %s: %v\n%s", addr, err, c.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Log is everything Caddy printed so far.
func (c *Caddy) Log() string { return c.out.String() }

// lockedBuffer is a bytes.Buffer safe for concurrent use.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
