package credentials

import (
	"fmt"
	"sync"
	"time"
)

// Bounds of WithDataKeyCache.
const (
	maxDataKeyCache    = 1 << 20
	minDataKeyCacheTTL = time.Second
	maxDataKeyCacheTTL = time.Hour
)

// WithDataKeyCache keeps up to size tenants' unwrapped data keys
// (WithDataKeys) in this process, each for ttl after it was read from the
// DataKeyStore, so that reading a credential does not query the key store
// and unwrap the key with the keeper (a KMS call, with a KMS keeper) every
// time. Off by default: every use reads the key. size is 1 to 1,048,576;
// ttl is 1 s to 1 h. New refuses it without WithDataKeys (ErrConfig).
//
// What it changes, exactly:
//   - Keys are found by the tenant ID the store accepted for them, and an
//     entry also records its tenant, checked on every hit: a tenant is
//     never given another's key.
//   - Only reads (Get, GetVersion, Transport) use a cached key. Set reads
//     the key from the store every time (and refreshes the cache with it),
//     so nothing is ever sealed under a key that is no longer the
//     tenant's. A read whose cached key does not open the row (the tenant
//     was deleted and given a new key by another process) drops the entry
//     and reads the key again.
//   - DeleteTenant drops the tenant's key from this Vault's cache once
//     the key is destroyed, and a key read from the store while it ran is
//     not kept: from its return on, this Vault opens nothing of the
//     tenant's (ErrShredded), as without the cache.
//   - Another Vault — another process — sharing the key store does not
//     hear of the delete: until its entry expires, at most ttl after it
//     read the key, it still opens the deleted tenant's ciphertext (a row
//     restored from a backup, say). The shred is complete on every
//     process ttl after the delete, not before.
//   - When full, an expired entry or else an arbitrary one is evicted.
//     An entry's key bytes are overwritten with zeros when it is evicted,
//     dropped or found expired; expired entries are swept at most once a
//     ttl, on the Vault's next use. Go may still hold copies made while
//     a key was used (the keeper's, the garbage collector's), as it does
//     without the cache.
func WithDataKeyCache(size int, ttl time.Duration) Option {
	return func(v *options) error {
		if size < 1 || size > maxDataKeyCache {
			return fmt.Errorf("%w: WithDataKeyCache(%d, %v): size must be between 1 and %d", ErrConfig, size, ttl, maxDataKeyCache)
		}
		if ttl < minDataKeyCacheTTL || ttl > maxDataKeyCacheTTL {
			return fmt.Errorf("%w: WithDataKeyCache(%d, %v): ttl must be between %v and %v", ErrConfig, size, ttl, minDataKeyCacheTTL, maxDataKeyCacheTTL)
		}
		v.keyCacheSize, v.keyCacheTTL = size, ttl
		return nil
	}
}

// keyCache holds unwrapped data keys by tenant ID, bounded, each until
// its expiry. Safe for concurrent use. A nil *keyCache caches nothing.
type keyCache struct {
	mu      sync.Mutex
	size    int
	ttl     time.Duration
	entries map[string]*cachedKey
	swept   time.Time
	// gen counts drops: a key read from the store before a drop (put
	// with the generation taken before the read) is not kept, since it
	// may be the key the drop was for.
	gen uint64
}

type cachedKey struct {
	tenantID string
	key      [32]byte
	expires  time.Time
}

func newKeyCache(size int, ttl time.Duration) *keyCache {
	return &keyCache{size: size, ttl: ttl, entries: make(map[string]*cachedKey, min(size, 1024))}
}

// get returns the tenant's key if an unexpired entry holds it.
func (c *keyCache) get(tenantID string, now time.Time) ([32]byte, bool) {
	if c == nil {
		return [32]byte{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sweep(now)
	e, ok := c.entries[tenantID]
	if !ok || e.tenantID != tenantID {
		return [32]byte{}, false
	}
	if !now.Before(e.expires) {
		c.remove(tenantID, e)
		return [32]byte{}, false
	}
	return e.key, true
}

// generation returns the count of drops so far, to be given to put.
func (c *keyCache) generation() uint64 {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// put keeps the tenant's key, read from the store after generation
// returned gen, unless a drop happened since.
func (c *keyCache) put(tenantID string, key [32]byte, gen uint64, now time.Time) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	c.sweep(now)
	if e, ok := c.entries[tenantID]; ok {
		c.remove(tenantID, e)
	}
	if len(c.entries) >= c.size {
		var victim string
		var ve *cachedKey
		seen := 0
		for id, e := range c.entries {
			if seen == 0 || !now.Before(e.expires) {
				victim, ve = id, e
			}
			if seen++; seen == 8 || !now.Before(e.expires) {
				break
			}
		}
		c.remove(victim, ve)
	}
	c.entries[tenantID] = &cachedKey{tenantID: tenantID, key: key, expires: now.Add(c.ttl)}
}

// drop forgets the tenant's key, and any key being read from the store
// meanwhile.
func (c *keyCache) drop(tenantID string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if e, ok := c.entries[tenantID]; ok {
		c.remove(tenantID, e)
	}
}

// sweep removes the expired entries, at most once a ttl. c.mu is held.
func (c *keyCache) sweep(now time.Time) {
	if now.Sub(c.swept) < c.ttl {
		return
	}
	c.swept = now
	for id, e := range c.entries {
		if !now.Before(e.expires) {
			c.remove(id, e)
		}
	}
}

// remove deletes an entry and overwrites its key. c.mu is held.
func (c *keyCache) remove(tenantID string, e *cachedKey) {
	clear(e.key[:])
	delete(c.entries, tenantID)
}
