package testenv

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestWaitReady(t *testing.T) {
	notYet := func() error { return errors.New("connection refused") }
	logs := func() string { return "the log" }

	t.Run("stops waiting when the process exits", func(t *testing.T) {
		done := make(chan struct{})
		close(done)
		start := time.Now()
		err := waitReady("server", time.Minute, done, notYet, logs)
		if err == nil || !strings.Contains(err.Error(), "server exited") || !strings.Contains(err.Error(), "the log") {
			t.Errorf("got %v, want the exit with the log", err)
		}
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("waited %v for a process that had exited", took)
		}
	})
	t.Run("gives up after the timeout with the last error and the log", func(t *testing.T) {
		err := waitReady("server", 50*time.Millisecond, make(chan struct{}), notYet, logs)
		if err == nil || !strings.Contains(err.Error(), "connection refused") || !strings.Contains(err.Error(), "the log") {
			t.Errorf("got %v, want the timeout with the last error and the log", err)
		}
	})
	t.Run("returns once ready", func(t *testing.T) {
		calls := 0
		ready := func() error {
			if calls++; calls < 3 {
				return notYet()
			}
			return nil
		}
		if err := waitReady("server", time.Minute, make(chan struct{}), ready, logs); err != nil {
			t.Error(err)
		}
	})
}
