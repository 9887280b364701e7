package cachekey

import "time"

// SetMemoryClock replaces a memory Keyspace's clock, so that tests expire
// entries without waiting.
func SetMemoryClock(ks *Keyspace, now func() time.Duration) {
	ks.store.(*memoryStore).now = now
}

// MemoryUsage returns the bytes a memory Keyspace's entries take and how
// many there are.
func MemoryUsage(ks *Keyspace) (bytes int64, entries int) {
	return ks.store.(*memoryStore).usage()
}

// SetMaxTenants lowers a Keyspace's generation cache bound, so that tests
// reach it; call it before the Keyspace is used.
func SetMaxTenants(ks *Keyspace, n int) { ks.maxTenants = n; ks.gens.Load().max = n }

// GenerationCached reports whether the Keyspace holds tenant id's
// generation.
func GenerationCached(ks *Keyspace, id string) bool {
	_, ok := ks.gens.Load().load(id)
	return ok
}

// DecodePart is decodePart, for the escaping round-trip tests.
var DecodePart = decodePart
