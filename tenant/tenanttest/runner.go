package tenanttest

import "testing"

// T is what the HTTP checks report to: a *testing.T, or a recorder of
// your own when you test that the checks catch a bug (the way this
// package's tests do). Errorf marks the current check failed and lets it
// go on.
//
// A T that also has *testing.T's Run method runs each check as a subtest
// named after it, so `go test` says which check failed and -run can pick
// one. A T without Run runs the checks one after another and gets every
// failure prefixed with the name of its check, such as "lists show only
// the tenant's own items: …".
type T interface {
	Helper()
	Errorf(format string, args ...any)
	Logf(format string, args ...any)
}

// subtester is the optional upgrade of a T: *testing.T has it.
type subtester interface {
	Run(name string, f func(t *testing.T)) bool
}

// skipper is the optional way of a T to say a check does not apply.
type skipper interface {
	Skip(args ...any)
}

// run runs one named check as a subtest of t when t can, and otherwise
// inline with its failures named.
func run(t T, name string, check func(t T)) {
	t.Helper()
	if st, ok := t.(subtester); ok {
		st.Run(name, func(t *testing.T) {
			t.Helper()
			check(t)
		})
		return
	}
	check(named{t: t, name: name})
}

// skip ends a check that does not apply to the service, with the reason.
// The caller returns right after: a T without Skip only logs it.
func skip(t T, reason string) {
	t.Helper()
	if s, ok := t.(skipper); ok {
		s.Skip(reason)
		return
	}
	t.Logf("skipped: %s", reason)
}

// named prefixes a T's messages with the check that sends them.
type named struct {
	t    T
	name string
}

func (n named) Helper() { n.t.Helper() }

func (n named) Errorf(format string, args ...any) {
	n.t.Helper()
	n.t.Errorf("%s: "+format, append([]any{n.name}, args...)...)
}

func (n named) Logf(format string, args ...any) {
	n.t.Helper()
	n.t.Logf("%s: "+format, append([]any{n.name}, args...)...)
}
