package credentials

import "time"

// SetClock makes v read the time from now (the data key cache's expiry).
func SetClock(v *Vault, now func() time.Time) { v.now = now }

// CachedKeys is how many data keys v's cache holds.
func CachedKeys(v *Vault) int {
	if v.keys == nil {
		return 0
	}
	v.keys.mu.Lock()
	defer v.keys.mu.Unlock()
	return len(v.keys.entries)
}
