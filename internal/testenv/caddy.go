package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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
	if err := waitReady("caddy on "+addr, 20*time.Second, done, dialable(addr), c.Log); err != nil {
		t.Fatal(err)
	}
	return c
}

// Log is everything Caddy printed so far.
func (c *Caddy) Log() string { return c.out.String() }
