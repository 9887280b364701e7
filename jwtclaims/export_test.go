package jwtclaims

// The tests and fuzz targets exercise these unexported checks directly;
// they are exported to the test binary only.
var (
	CheckClaimsJSON = checkClaimsJSON
	CheckKid        = checkKid
)

// CacheLen reports how many verified tokens a's cache holds (0 without
// a cache), so tests can check its bound.
func CacheLen(a *Authority) int {
	if a.cache == nil {
		return 0
	}
	a.cache.mu.RLock()
	defer a.cache.mu.RUnlock()
	return len(a.cache.entries)
}
