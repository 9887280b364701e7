package tenanttest

import (
	"context"
	"sync"

	"github.com/tenantwall/tenantwall/tenant"
)

// Auditor is a tenant.Auditor that records the events it receives, for
// tests that assert an attempt was reported. Safe for concurrent use; the
// zero value is ready.
type Auditor struct {
	mu     sync.Mutex
	events []tenant.Event
}

var _ tenant.Auditor = (*Auditor)(nil)

// Audit implements tenant.Auditor.
func (a *Auditor) Audit(_ context.Context, e tenant.Event) {
	a.mu.Lock()
	a.events = append(a.events, e)
	a.mu.Unlock()
}

// Events returns a copy of the events so far.
func (a *Auditor) Events() []tenant.Event {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]tenant.Event(nil), a.events...)
}

// Kinds returns the kinds of the events so far, in order.
func (a *Auditor) Kinds() []tenant.EventKind {
	var out []tenant.EventKind
	for _, e := range a.Events() {
		out = append(out, e.Kind)
	}
	return out
}

// Count returns how many events of kind k were recorded.
func (a *Auditor) Count(k tenant.EventKind) int {
	n := 0
	for _, e := range a.Events() {
		if e.Kind == k {
			n++
		}
	}
	return n
}

// Last returns the latest event, if any.
func (a *Auditor) Last() (tenant.Event, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.events) == 0 {
		return tenant.Event{}, false
	}
	return a.events[len(a.events)-1], true
}
