package lifecycle

import "time"

// SetClock replaces the Manager's clock, for tests of the grace period.
func SetClock(m *Manager, now func() time.Time) { m.now = now }

// SetProgress replaces the Manager's progress function.
func SetProgress(m *Manager, fn func(Progress)) { m.progress = fn }
