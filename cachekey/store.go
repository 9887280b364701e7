package cachekey

import (
	"context"
	"time"
)

// store is where a Keyspace keeps its generations and a Cache its
// entries: Redis (New) or this process's memory (NewMemory). Keys, their
// escaping and the tenant checks stay in the Keyspace, so that both
// stores see the same keys and no store can weaken the namespace.
type store interface {
	// generation returns tenant id's current generation and the
	// generations (so the epoch) it belongs to, where it is recorded.
	generation(ctx context.Context, id string) (*generations, uint64, error)
	// bump raises tenant id's generation, records it and returns it.
	bump(ctx context.Context, id string) (uint64, error)
	// get returns the entry under key; found is false for a missing or
	// expired entry.
	get(ctx context.Context, key string) (data []byte, found bool, err error)
	// set stores data under key for ttl.
	set(ctx context.Context, key string, data []byte, ttl time.Duration) error
	// del removes the entry under key.
	del(ctx context.Context, key string) error
	// purge deletes every entry of tenant id and returns how many.
	purge(ctx context.Context, id string) (int64, error)
}
