package ratelimit

import "time"

// Keys of the limiter, for the hostile-input tests.
var (
	TenantKey = tenantKey
	UserKey   = userKey
)

// MemoryKeys returns how many keys s holds.
func MemoryKeys(s *MemoryStore) int { return s.keys() }

// SetMemoryClock replaces s's clock.
func SetMemoryClock(s *MemoryStore, now func() time.Duration) { s.now = now }
