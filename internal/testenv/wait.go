package testenv

import (
	"bytes"
	"fmt"
	"net"
	"sync"
	"time"
)

// Poll calls cond every interval until it holds or d has passed, and
// reports whether it held: for outside processes, which send no
// notification.
func Poll(d, interval time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	tick := time.NewTicker(interval)
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

// waitReady waits until ready returns nil for a process the test started.
// It gives up early when the process exits (done is closed), or after d,
// with an error that names what and carries the process's output, logs().
func waitReady(what string, d time.Duration, done <-chan struct{}, ready func() error, logs func() string) error {
	exited := func() bool {
		select {
		case <-done:
			return true
		default:
			return false
		}
	}
	var err error
	up := Poll(d, 20*time.Millisecond, func() bool {
		if exited() {
			return true // no use waiting
		}
		err = ready()
		return err == nil
	})
	switch {
	case exited():
		return fmt.Errorf("%s exited:\n%s", what, logs())
	case !up:
		return fmt.Errorf("%s did not come up in %v: %v\n%s", what, d, err, logs())
	}
	return nil
}

// dialable is a waitReady check: addr accepts TCP connections.
func dialable(addr string) func() error {
	return func() error {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err
	}
}

// lockedBuffer is a bytes.Buffer safe for concurrent use: a process's
// output, read by waitReady while exec still copies it.
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
