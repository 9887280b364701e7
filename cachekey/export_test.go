package cachekey

import (
	"time"

	"github.com/redis/go-redis/v9"
)

// SetMemoryClock replaces a memory Keyspace's clock, so that tests expire
// entries without waiting.
func SetMemoryClock(ks *Keyspace, now func() time.Duration) {
	ks.store.(*memoryStore).now = now
}

// MemoryUsage returns the bytes a memory Keyspace's entries take and how
// many there are.
func MemoryUsage(ks *Keyspace) (bytes int64, entries int) {
	m := ks.store.(*memoryStore)
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.Lock()
		bytes += sh.bytes
		entries += len(sh.entries)
		sh.mu.Unlock()
	}
	return bytes, entries
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

// Client is a Redis Keyspace's client, nil for a memory one.
func (ks *Keyspace) Client() redis.UniversalClient { return ks.client }

// GenKey is the key of tenant id's generation counter.
func GenKey(ks *Keyspace, id string) string { return ks.genKey(id) }

// DecodePart is decodePart, for the escaping round-trip tests.
var DecodePart = decodePart

// DropMessages makes a Redis Keyspace lose every pub/sub message it
// receives, as a broken connection would, so that tests see what the
// invalidation log repairs.
func DropMessages(ks *Keyspace, on bool) { ks.dropMessages.Store(on) }

// FullRefreshes counts the full refreshes a Redis Keyspace ran.
func FullRefreshes(ks *Keyspace) int64 { return ks.fullRefreshes.Load() }

// LogKeys are the invalidation log's stream and counter keys.
func LogKeys(ks *Keyspace) (log, seq string) { return ks.logKey(), ks.seqKey() }

// LastApplied is the last invalidation log entry a Keyspace applied.
func LastApplied(ks *Keyspace) uint64 { return ks.lastSeq.Load() }
