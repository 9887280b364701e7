package lifecycle

import (
	"io"
	"time"
)

// SetClock replaces the Manager's clock, for tests of the grace period.
func SetClock(m *Manager, now func() time.Time) { m.now = now }

// SetProgress replaces the Manager's progress function.
func SetProgress(m *Manager, fn func(Progress)) { m.progress = fn }

// VerifyArchive runs Import's first pass alone.
func VerifyArchive(m *Manager, r io.Reader) (Manifest, error) {
	v, err := m.verifyArchive(r)
	return v.man, err
}
