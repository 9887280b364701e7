package resolve

// SetClock replaces the cache clock, for TTL tests.
func SetClock(r *Resolver, now func() int64) { r.now = now }

// CacheLen reports the number of cached answers.
func CacheLen(r *Resolver) int { return r.cache.len() }
