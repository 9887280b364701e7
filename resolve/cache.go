package resolve

import (
	"math"
	"sync"
	"time"

	"github.com/tenantwall/tenantwall/tenant"
)

// entry is one cached decision: a tenant, or none (negative caching).
type entry struct {
	t       *tenant.Tenant // nil: the key resolves to no tenant
	expires int64          // on the Resolver's clock (monotonic nanoseconds)
	// serve is t.Active(), decided when the entry is stored: t is never
	// mutated, so the answer cannot change while the entry lives. Only
	// an entry with serve set lets a request through; the zero entry
	// refuses. It is kept here rather than re-read from t because reading
	// t on a hit touches another cache line: measured at 1.14× of the
	// hand-written middleware against 1.04× with this field (median of
	// 10 interleaved processes each).
	serve bool
}

// cache maps lookup keys (normalised hosts, or a header's slug) to tenants.
// It is bounded: when full, an arbitrary entry is evicted (Go map iteration
// starts at a random place), which keeps reads lock-shared and O(1); an LRU
// would need a write on every hit. Tenants stored here are never mutated.
type cache struct {
	mu       sync.RWMutex
	m        map[string]entry
	byTenant map[string]map[string]struct{} // tenant ID → keys
	max      int
	gen      uint64 // bumped by every invalidation
}

func newCache(max int) *cache {
	return &cache{
		m:        make(map[string]entry),
		byTenant: make(map[string]map[string]struct{}),
		max:      max,
	}
}

func (c *cache) get(key string, now int64) (entry, bool) {
	c.mu.RLock()
	e, ok := c.m[key]
	c.mu.RUnlock()
	if !ok || now >= e.expires {
		return entry{}, false
	}
	return e, true
}

// generation returns the invalidation generation; pass it to put so that a
// lookup that started before an invalidation cannot store a stale answer.
func (c *cache) generation() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

func (c *cache) put(key string, e entry, gen uint64) {
	if c.max <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if old, ok := c.m[key]; ok {
		c.unindex(key, old)
	} else {
		for len(c.m) >= c.max {
			for k, v := range c.m {
				delete(c.m, k)
				c.unindex(k, v)
				break
			}
		}
	}
	c.m[key] = e
	if e.t != nil {
		keys := c.byTenant[e.t.ID]
		if keys == nil {
			keys = make(map[string]struct{})
			c.byTenant[e.t.ID] = keys
		}
		keys[key] = struct{}{}
	}
}

func (c *cache) unindex(key string, e entry) {
	if e.t == nil {
		return
	}
	if keys := c.byTenant[e.t.ID]; keys != nil {
		delete(keys, key)
		if len(keys) == 0 {
			delete(c.byTenant, e.t.ID)
		}
	}
}

func (c *cache) delete(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if e, ok := c.m[key]; ok {
		delete(c.m, key)
		c.unindex(key, e)
	}
}

func (c *cache) deleteTenant(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for key := range c.byTenant[id] {
		delete(c.m, key)
	}
	delete(c.byTenant, id)
}

// deleteNegative drops every cached "no tenant" answer, so that a tenant or
// domain created a moment ago is not hidden by a negative entry.
func (c *cache) deleteNegative() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for k, e := range c.m {
		if e.t == nil {
			delete(c.m, k)
		}
	}
}

func (c *cache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.m)
	clear(c.byTenant)
}

func (c *cache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}

// expiry saturates rather than wrap: a huge TTL must mean "a long time",
// not an expiry in the past. (With now <= 0 the sum cannot overflow.)
func expiry(now int64, ttl time.Duration) int64 {
	if now > 0 && int64(ttl) > math.MaxInt64-now {
		return math.MaxInt64
	}
	return now + int64(ttl)
}
