package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// fatalTB records the first Fatal and ends the calling goroutine, as
// testing.T does, so that a test can check a start helper's failure.
type fatalTB struct {
	testing.TB
	mu  sync.Mutex
	msg string
}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.msg = fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}

func (f *fatalTB) Fatal(args ...any) { f.Fatalf("%s", fmt.Sprint(args...)) }

func (f *fatalTB) message() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.msg
}

// fakeServer puts on PATH a program called name that prints without end
// and never listens, readable and runnable by every user (PgBouncer runs
// as postgres under root).
func fakeServer(t *testing.T, name string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	script := "#!/bin/sh\nwhile :; do echo still starting; sleep 0.01; done\n"
	if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// startFails runs start with a fatalTB and returns what it failed with.
func startFails(t *testing.T, start func(testing.TB)) string {
	t.Helper()
	f := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		start(f)
	}()
	<-done
	return f.message()
}

// The timeout message carries the output the server printed while it ran:
// read under -race, while exec still copies it, it must not race.
func TestStartTimeoutReportsOutputWhileServerRuns(t *testing.T) {
	t.Run("nginx", func(t *testing.T) {
		fakeServer(t, "nginx")
		dir := NginxPrefix(t)
		msg := startFails(t, func(tb testing.TB) { StartNginx(tb, dir, "nginx.conf", "127.0.0.1:"+fmt.Sprint(FreePort(t))) })
		if !strings.Contains(msg, "did not come up") || !strings.Contains(msg, "still starting") {
			t.Errorf("StartNginx failed with %q, want a timeout with the output", msg)
		}
	})
	t.Run("pgbouncer", func(t *testing.T) {
		fakeServer(t, "pgbouncer")
		t.Setenv(PgBouncerEnv, "")
		msg := startFails(t, func(tb testing.TB) { StartPgBouncer(tb, 1) })
		if !strings.Contains(msg, "did not come up") || !strings.Contains(msg, "still starting") {
			t.Errorf("StartPgBouncer failed with %q, want a timeout with the output", msg)
		}
	})
}
