package cachekey

import (
	"context"
	"fmt"
	"hash/maphash"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/tenantwall/tenantwall/tenant"
)

// DefaultMaxBytes is the default bound on a memory Keyspace's entries.
const DefaultMaxBytes = 64 << 20

// MemoryOption configures a memory Keyspace (NewMemory).
type MemoryOption func(*memoryOptions) error

type memoryOptions struct {
	maxBytes int64
	auditor  tenant.Auditor
}

// WithMaxBytes bounds the memory the entries take, keys and values
// (default DefaultMaxBytes). Beyond it the oldest entries are dropped; an
// entry larger than a sixteenth of the bound is not kept at all.
func WithMaxBytes(n int64) MemoryOption {
	return func(o *memoryOptions) error {
		if n <= 0 {
			return fmt.Errorf("%w: WithMaxBytes(%d): not positive", ErrConfig, n)
		}
		o.maxBytes = n
		return nil
	}
}

// WithMemoryAuditor sets where Purge and InvalidateTenant, platform work,
// are reported (default tenant.DefaultAuditor).
func WithMemoryAuditor(a tenant.Auditor) MemoryOption {
	return func(o *memoryOptions) error { o.auditor = tenant.OrDefault(a); return nil }
}

// NewMemory returns a Keyspace that keeps generations and Cache entries in
// this process's memory, for a single process in embedded mode (tests, a
// development server, a one-binary install). Its keys are those of a
// Redis Keyspace with the default options but for the epoch segment (e0:
// the epoch never changes), and so are its guarantees: the
// tenant comes from the context and a missing one is tenant.ErrNoTenant,
// Invalidate drops a tenant's entries in O(1) by bumping its generation,
// Purge deletes them. Entries expire after their Cache's TTL and take at
// most WithMaxBytes of memory; the oldest go first. Generations of at most
// DefaultMaxTenants tenants are kept: a dropped tenant comes back at a
// generation no lower than any it had, so its old entries stay
// unreachable.
//
// Invalidations are not shared with other processes: run one process, or
// use New. A memory Keyspace has no Redis client, so it has no Guard.
// Close does nothing. It is safe for concurrent use.
func NewMemory(opts ...MemoryOption) (*Keyspace, error) {
	o := memoryOptions{maxBytes: DefaultMaxBytes, auditor: tenant.DefaultAuditor}
	for _, f := range opts {
		if err := f(&o); err != nil {
			return nil, err
		}
	}
	k := &Keyspace{options: options{
		prefix:     DefaultPrefix,
		maxTenants: DefaultMaxTenants,
		auditor:    o.auditor,
		log:        slog.Default(),
	}}
	k.gens.Store(newGenerations(k.maxTenants, memoryEpoch))
	k.store = newMemoryStore(k, o.maxBytes)
	return k, nil
}

// memoryShards spreads entries over independently locked shards, so that
// concurrent Gets of different keys rarely wait for each other.
const memoryShards = 16

// memoryEntryOverhead approximates what an entry costs beyond its key and
// value: the entry struct and its map slot.
const memoryEntryOverhead = 96

// memoryStore is the store of NewMemory. Generations live in the
// Keyspace's generations alone (there is nothing to re-read them from);
// entries live in shards, each a map and a list in insertion order, whose
// head is dropped first: the oldest entry, and, as a Cache's entries share
// one TTL, the first to expire.
type memoryStore struct {
	k      *Keyspace
	seed   maphash.Seed
	now    func() time.Duration // monotonic; replaced by tests
	shards [memoryShards]memoryShard
}

type memoryShard struct {
	mu         sync.Mutex
	entries    map[string]*memoryEntry
	head, tail *memoryEntry // oldest, newest
	bytes, max int64
}

type memoryEntry struct {
	key        string
	data       []byte
	expires    time.Duration
	prev, next *memoryEntry
}

func (e *memoryEntry) size() int64 {
	return int64(len(e.key) + len(e.data) + memoryEntryOverhead)
}

var _ store = (*memoryStore)(nil)

func newMemoryStore(k *Keyspace, maxBytes int64) *memoryStore {
	start := time.Now()
	m := &memoryStore{k: k, seed: maphash.MakeSeed(), now: func() time.Duration { return time.Since(start) }}
	for i := range m.shards {
		m.shards[i].entries = map[string]*memoryEntry{}
		m.shards[i].max = max(maxBytes/memoryShards, 1)
	}
	return m
}

func (m *memoryStore) shard(key string) *memoryShard {
	return &m.shards[maphash.String(m.seed, key)%memoryShards]
}

func (m *memoryStore) generation(_ context.Context, id string) (*generations, uint64, error) {
	g := m.k.gens.Load()
	return g, g.current(id), nil
}

func (m *memoryStore) bump(_ context.Context, id string) (uint64, error) {
	return m.k.gens.Load().increment(id), nil
}

func (m *memoryStore) get(_ context.Context, key string) ([]byte, bool, error) {
	s := m.shard(key)
	now := m.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entries[key]
	if e == nil {
		return nil, false, nil
	}
	if now >= e.expires {
		s.remove(e)
		return nil, false, nil
	}
	return e.data, true, nil
}

func (m *memoryStore) set(_ context.Context, key string, data []byte, ttl time.Duration) error {
	// The store keeps its own copy: a codec may reuse its buffer.
	e := &memoryEntry{key: key, data: append([]byte(nil), data...)}
	s := m.shard(key)
	now := m.now()
	e.expires = now + ttl
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.entries[key]; old != nil {
		s.remove(old)
	}
	if e.size() > s.max {
		return nil // too large to keep; the next Get loads again
	}
	s.entries[key] = e
	e.prev = s.tail
	if s.tail != nil {
		s.tail.next = e
	} else {
		s.head = e
	}
	s.tail = e
	s.bytes += e.size()
	// Drop the oldest entries while over the bound, and expired ones at
	// the head: each entry is dropped once, so a set costs O(1) amortised.
	for s.head != nil && (s.bytes > s.max || now >= s.head.expires) {
		s.remove(s.head)
	}
	return nil
}

func (m *memoryStore) del(_ context.Context, key string) error {
	s := m.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.entries[key]; e != nil {
		s.remove(e)
	}
	return nil
}

// purge walks every entry: purging is rare, and a tenant's keys are spread
// over the shards by design.
func (m *memoryStore) purge(_ context.Context, id string) (int64, error) {
	ns := m.k.namespace(id)
	var n int64
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		for key, e := range s.entries {
			if strings.HasPrefix(key, ns) {
				s.remove(e)
				n++
			}
		}
		s.mu.Unlock()
	}
	return n, nil
}

// remove unlinks e; s.mu is held.
func (s *memoryShard) remove(e *memoryEntry) {
	delete(s.entries, e.key)
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		s.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		s.tail = e.prev
	}
	e.prev, e.next = nil, nil
	s.bytes -= e.size()
}
