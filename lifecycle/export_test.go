package lifecycle

import "time"

// SetClock replaces the Manager's clock, for tests of the grace period.
func SetClock(m *Manager, now func() time.Time) { m.now = now }
