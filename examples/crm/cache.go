package main

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tenantwall/tenantwall/cachekey"
	"github.com/tenantwall/tenantwall/tenant"
)

// dashCache caches dashboard overviews per tenant, user and filter, and
// drops a tenant's entries when its data changes.
type dashCache interface {
	get(ctx context.Context, parts []string, load func(context.Context) (overview, error)) (overview, error)
	invalidate(ctx context.Context) error
}

// redisCache is the production cache: cachekey on Redis.
type redisCache struct {
	ks *cachekey.Keyspace
	c  *cachekey.Cache[overview]
}

func (r *redisCache) get(ctx context.Context, parts []string, load func(context.Context) (overview, error)) (overview, error) {
	return r.c.Get(ctx, parts, load)
}

func (r *redisCache) invalidate(ctx context.Context) error { return r.ks.Invalidate(ctx) }

// memCache is the embedded default: the same scheme in process memory —
// entries keyed by tenant ID, generation and parts, a generation bump per
// invalidation, a TTL and a bound on size.
type memCache struct {
	mu      sync.Mutex
	gens    map[string]uint64
	entries map[string]memEntry
	ttl     time.Duration
}

type memEntry struct {
	data    []byte
	expires time.Time
}

func newMemCache(ttl time.Duration) *memCache {
	return &memCache{gens: map[string]uint64{}, entries: map[string]memEntry{}, ttl: ttl}
}

func (m *memCache) key(id string, gen uint64, parts []string) string {
	esc := make([]string, len(parts))
	for i, p := range parts {
		esc[i] = strconv.Quote(p) // quoted parts cannot run into each other
	}
	return id + "/" + strconv.FormatUint(gen, 10) + "/" + strings.Join(esc, "/")
}

func (m *memCache) get(ctx context.Context, parts []string, load func(context.Context) (overview, error)) (overview, error) {
	id, err := tenant.IDFromContext(ctx)
	if err != nil {
		return overview{}, err
	}
	m.mu.Lock()
	k := m.key(id, m.gens[id], parts)
	e, ok := m.entries[k]
	m.mu.Unlock()
	var v overview
	if ok && time.Now().Before(e.expires) && json.Unmarshal(e.data, &v) == nil {
		return v, nil
	}
	v, err = load(ctx)
	if err != nil {
		return v, err
	}
	data, _ := json.Marshal(v)
	m.mu.Lock()
	if len(m.entries) > 10000 {
		clear(m.entries)
	}
	m.entries[k] = memEntry{data: data, expires: time.Now().Add(m.ttl)}
	m.mu.Unlock()
	return v, nil
}

func (m *memCache) invalidate(ctx context.Context) error {
	id, err := tenant.IDFromContext(ctx)
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.gens[id]++
	m.mu.Unlock()
	return nil
}
