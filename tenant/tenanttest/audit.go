package tenanttest

import (
	"context"
	"sync"

	"github.com/tenantwall/tenantwall/tenant"
)

// AuditRecorder is a tenant.Auditor that keeps the events it receives, so
// that a test can assert that an attempt was reported (a cross-tenant
// access, an unknown host). Pass it wherever a package takes an auditor,
// such as resolve.WithAuditor. Safe for concurrent use; the zero value is
// ready and nothing needs closing.
type AuditRecorder struct {
	mu     sync.Mutex
	events []tenant.Event
}

var _ tenant.Auditor = (*AuditRecorder)(nil)

// Audit implements tenant.Auditor by recording e.
func (a *AuditRecorder) Audit(_ context.Context, e tenant.Event) {
	a.mu.Lock()
	a.events = append(a.events, e)
	a.mu.Unlock()
}

// Events returns a copy of the events so far, oldest first.
func (a *AuditRecorder) Events() []tenant.Event {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]tenant.Event(nil), a.events...)
}

// Kinds returns the kinds of the events so far, oldest first.
func (a *AuditRecorder) Kinds() []tenant.EventKind {
	var out []tenant.EventKind
	for _, e := range a.Events() {
		out = append(out, e.Kind)
	}
	return out
}

// Count returns how many events of kind k were recorded.
func (a *AuditRecorder) Count(k tenant.EventKind) int {
	n := 0
	for _, e := range a.Events() {
		if e.Kind == k {
			n++
		}
	}
	return n
}

// Last returns the latest event; ok is false when there is none.
func (a *AuditRecorder) Last() (e tenant.Event, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.events) == 0 {
		return tenant.Event{}, false
	}
	return a.events[len(a.events)-1], true
}
