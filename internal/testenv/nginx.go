package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Nginx is an nginx of the test's own, run in the foreground from a
// prefix directory in a temporary directory, with its pid file, logs and
// temporary files there. It is stopped when the test ends.
type Nginx struct {
	// Dir is the prefix directory (nginx -p): relative paths in the
	// configuration are under it, logs/error.log included.
	Dir string
}

// NginxBinary returns the nginx binary (on PATH or /usr/sbin/nginx); when
// there is none the test is skipped, or failed when services are
// required.
func NginxBinary(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("nginx")
	if err == nil {
		return bin
	}
	if _, serr := os.Stat("/usr/sbin/nginx"); serr == nil {
		return "/usr/sbin/nginx"
	}
	Unavailable(t, "nginx (on PATH or /usr/sbin; on Debian: apt-get install nginx)", err)
	return ""
}

// NginxPrefix makes a prefix directory for nginx, with the logs and temp
// directories the configuration names, readable by nginx's workers.
func NginxPrefix(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"logs", "temp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// NginxTest runs nginx -t on conf (a file) with prefix dir and fails the
// test with nginx's output when the configuration is refused.
func NginxTest(t testing.TB, dir, conf string) {
	t.Helper()
	out, err := exec.Command(NginxBinary(t), "-t", "-p", dir, "-c", conf, "-e", filepath.Join(dir, "logs", "error.log")).CombinedOutput()
	if err != nil {
		t.Fatalf("nginx -t -c %s: %v\n%s", conf, err, out)
	}
}

// StartNginx runs nginx with the configuration file conf and prefix dir
// (NginxPrefix), in the foreground (daemon off), and returns once addr
// accepts connections.
func StartNginx(t testing.TB, dir, conf, addr string) *Nginx {
	t.Helper()
	out := &lockedBuffer{}
	cmd := exec.Command(NginxBinary(t), "-p", dir, "-c", conf, "-e", filepath.Join(dir, "logs", "error.log"), "-g", "daemon off;")
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("nginx: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGQUIT) // graceful: workers finish
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	logs := func() string {
		b, _ := os.ReadFile(filepath.Join(dir, "logs", "error.log"))
		return out.String() + string(b)
	}
	if err := waitReady("nginx on "+addr, 10*time.Second, done, dialable(addr), logs); err != nil {
		t.Fatal(err)
	}
	return &Nginx{Dir: dir}
}

// ErrorLog is nginx's error log so far.
func (n *Nginx) ErrorLog() string {
	b, _ := os.ReadFile(filepath.Join(n.Dir, "logs", "error.log"))
	return string(b)
}
