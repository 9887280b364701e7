package cachekey

import (
	"sync"
	"sync/atomic"
)

// generations caches tenant generations in the process. Key reads it on
// every call, so reads take no lock and hash with the fast string hash:
// they look in an immutable snapshot map. Tenants seen for the first time
// go into a small locked map, merged into a new snapshot when it grows or
// on the refresher's tick; a generation bump updates its counter in place.
//
// A generations value belongs to one epoch of the store (see epoch.go):
// counters only ever rise within it, and when Redis's epoch changes the
// Keyspace replaces the whole value with an empty one for the new epoch,
// so a counter of one epoch is never combined with another's key segment.
type generations struct {
	epoch string // "" until the Redis epoch is known; memoryEpoch for NewMemory
	seg   string // "e<epoch>:g", written into every key after the tenant ID
	snap  atomic.Pointer[map[string]*atomic.Uint64]
	mu    sync.Mutex
	// pending holds tenants whose invalidation did not reach Redis: they
	// are kept out of the cache (observe refuses them) until it does.
	pending map[string]struct{}
	recent  map[string]*atomic.Uint64
	max     int
	// floor is at least every generation dropped from the cache; a memory
	// Keyspace starts unknown tenants there (see memoryStore).
	floor uint64
}

const mergeAt = 256

func newGenerations(max int, epoch string) *generations {
	g := &generations{epoch: epoch, seg: "e" + epoch + ":g", recent: map[string]*atomic.Uint64{},
		pending: map[string]struct{}{}, max: max}
	empty := map[string]*atomic.Uint64{}
	g.snap.Store(&empty)
	return g
}

func (g *generations) load(id string) (*atomic.Uint64, bool) {
	if c := (*g.snap.Load())[id]; c != nil {
		return c, true
	}
	g.mu.Lock()
	c := g.recent[id]
	g.mu.Unlock()
	return c, c != nil
}

// observe records generation v for id, never moving backwards. A tenant
// with a pending invalidation is not cached.
func (g *generations) observe(id string, v uint64) {
	c, ok := g.load(id)
	if !ok {
		g.mu.Lock()
		if _, p := g.pending[id]; p {
			g.mu.Unlock()
			return
		}
		if c = g.recent[id]; c == nil {
			if c = (*g.snap.Load())[id]; c == nil {
				c = new(atomic.Uint64)
				c.Store(v)
				g.recent[id] = c
				// While the snapshot is small, copying it is cheaper than
				// making readers take the lock.
				if len(g.recent) >= mergeAt || len(*g.snap.Load()) < 4096 {
					g.mergeLocked()
				}
				g.mu.Unlock()
				return
			}
		}
		g.mu.Unlock()
	}
	for {
		old := c.Load()
		if v <= old || c.CompareAndSwap(old, v) {
			return
		}
	}
}

// merge folds recent tenants into a new snapshot.
func (g *generations) merge() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.recent) > 0 {
		g.mergeLocked()
	}
}

func (g *generations) mergeLocked() {
	old := *g.snap.Load()
	next := make(map[string]*atomic.Uint64, len(old)+len(g.recent))
	for id, c := range old {
		next[id] = c
	}
	for id, c := range g.recent {
		next[id] = c
	}
	// Bounded: drop arbitrary tenants; they are re-read on next use.
	for id, c := range next {
		if len(next) <= g.max {
			break
		}
		g.floor = max(g.floor, c.Load())
		delete(next, id)
	}
	g.snap.Store(&next)
	clear(g.recent)
}

// forget drops id.
func (g *generations) forget(id string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.forgetLocked(id)
}

// value returns id's cached generation, if any.
func (g *generations) value(id string) (uint64, bool) {
	if c, ok := g.load(id); ok {
		return c.Load(), true
	}
	return 0, false
}

// setPending drops id and keeps it out of the cache until clearPending:
// its invalidation has not reached Redis, so no generation this process
// knows of may be used for it.
func (g *generations) setPending(id string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.pending[id] = struct{}{}
	g.forgetLocked(id)
}

// clearPending lets id be cached again: its invalidation reached Redis.
func (g *generations) clearPending(id string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.pending, id)
}

func (g *generations) isPending(id string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	_, p := g.pending[id]
	return p
}

// pendingIDs lists the tenants whose invalidation is pending.
func (g *generations) pendingIDs() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]string, 0, len(g.pending))
	for id := range g.pending {
		out = append(out, id)
	}
	return out
}

// forgetLocked drops id; g.mu is held.
func (g *generations) forgetLocked(id string) {
	if c := g.recent[id]; c != nil {
		g.floor = max(g.floor, c.Load())
	}
	delete(g.recent, id)
	old := *g.snap.Load()
	c, ok := old[id]
	if !ok {
		return
	}
	g.floor = max(g.floor, c.Load())
	next := make(map[string]*atomic.Uint64, len(old))
	for k, c := range old {
		if k != id {
			next[k] = c
		}
	}
	g.snap.Store(&next)
}

// ids lists the cached tenants.
func (g *generations) ids() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	snap := *g.snap.Load()
	out := make([]string, 0, len(snap)+len(g.recent))
	for id := range snap {
		out = append(out, id)
	}
	for id := range g.recent {
		out = append(out, id)
	}
	return out
}

// The methods below serve a memory Keyspace, whose generations live only
// here. They take the lock, so that a generation handed out or bumped
// cannot be lost to a concurrent eviction: an evicted tenant comes back at
// the floor, which is at least its last generation, so entries written
// under an older generation stay unreachable.

// lockedAdd adds n to id's generation, starting an unknown id at the
// floor, and returns it; g.mu is held. The counter holds its new value
// before any merge can evict it, so an eviction raises the floor past it.
func (g *generations) lockedAdd(id string, n uint64) uint64 {
	if c := g.recent[id]; c != nil {
		return c.Add(n)
	}
	if c := (*g.snap.Load())[id]; c != nil {
		return c.Add(n)
	}
	v := g.floor + n
	c := new(atomic.Uint64)
	c.Store(v)
	g.recent[id] = c
	if len(g.recent) >= mergeAt || len(*g.snap.Load()) < 4096 {
		g.mergeLocked()
	}
	return v
}

// current returns id's generation, starting an unknown id at the floor.
func (g *generations) current(id string) uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.lockedAdd(id, 0)
}

// increment bumps id's generation and returns the new one.
func (g *generations) increment(id string) uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.lockedAdd(id, 1)
}
