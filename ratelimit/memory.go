package ratelimit

import (
	"context"
	"fmt"
	"hash/maphash"
	"sync"
	"time"
)

// DefaultMaxKeys is the default bound on a MemoryStore's keys.
const DefaultMaxKeys = 1 << 20

const memoryShards = 64

// MemoryStore is the GCRA in this process's memory, for the embedded mode
// and single-instance services: the same decisions as the Redis store
// (RunStoreTests checks both), on the monotonic clock instead of Redis
// server time. Limits are per process: N instances each allow the full
// rate. Safe for concurrent use.
//
// A key whose burst has fully refilled holds no information and is
// dropped when its shard is next swept. At most WithMaxKeys keys are kept;
// past that, an arbitrary key is forgotten, which gives that key a fresh
// burst (a full store errs towards allowing, never towards refusing a key
// that sent nothing).
type MemoryStore struct {
	shards [memoryShards]memoryShard
	seed   maphash.Seed
	max    int // per shard
	epoch  time.Time
	now    func() time.Duration // since epoch; replaced in tests
}

type memoryShard struct {
	mu    sync.Mutex
	tat   map[string]time.Duration // theoretical arrival time, since epoch
	sweep time.Duration            // when the shard was last swept
}

// MemoryOption configures NewMemoryStore.
type MemoryOption func(*memoryOptions) error

type memoryOptions struct{ maxKeys int }

// WithMaxKeys bounds the keys kept (default DefaultMaxKeys); it must be
// positive.
func WithMaxKeys(n int) MemoryOption {
	return func(o *memoryOptions) error {
		if n <= 0 {
			return fmt.Errorf("%w: WithMaxKeys(%d): not positive", ErrConfig, n)
		}
		o.maxKeys = n
		return nil
	}
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore(opts ...MemoryOption) (*MemoryStore, error) {
	o := memoryOptions{maxKeys: DefaultMaxKeys}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	s := &MemoryStore{seed: maphash.MakeSeed(), max: max(1, o.maxKeys/memoryShards), epoch: time.Now()}
	for i := range s.shards {
		s.shards[i].tat = make(map[string]time.Duration)
	}
	return s, nil
}

func (s *MemoryStore) clock() time.Duration {
	if s.now != nil {
		return s.now()
	}
	return time.Since(s.epoch)
}

// AllowN implements Store with the GCRA of Redis's script (see
// redis_rate): tat = max(stored, now); the events fit if
// tat + n·T − Burst·T ≤ now, where T = Period/Rate.
func (s *MemoryStore) AllowN(_ context.Context, key string, l Limit, n int) (Result, error) {
	if err := l.check(n); err != nil {
		return Result{}, err
	}
	t := l.emission()
	sh := &s.shards[maphash.String(s.seed, key)%memoryShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	now := s.clock()
	tat, ok := sh.tat[key]
	if !ok || tat < now {
		tat = now
	}
	newTAT := tat + time.Duration(n)*t
	diff := now - (newTAT - time.Duration(l.Burst)*t)
	if diff < 0 {
		return Result{RetryAfter: -diff, ResetAfter: tat - now}, nil
	}
	if !ok && len(sh.tat) >= s.max {
		sh.evict(now, s.max)
	}
	sh.tat[key] = newTAT
	if now-sh.sweep > time.Minute {
		sh.sweepExpired(now)
	}
	return Result{Allowed: true, Remaining: int(diff / t), ResetAfter: newTAT - now}, nil
}

// sweepExpired drops every key whose burst has refilled.
func (sh *memoryShard) sweepExpired(now time.Duration) {
	sh.sweep = now
	for k, tat := range sh.tat {
		if tat <= now {
			delete(sh.tat, k)
		}
	}
}

// evict makes room for one key: expired ones first, else an arbitrary one.
func (sh *memoryShard) evict(now time.Duration, max int) {
	sh.sweepExpired(now)
	for k := range sh.tat {
		if len(sh.tat) < max {
			return
		}
		delete(sh.tat, k)
	}
}

// keys returns how many keys the store holds (for tests).
func (s *MemoryStore) keys() int {
	n := 0
	for i := range s.shards {
		s.shards[i].mu.Lock()
		n += len(s.shards[i].tat)
		s.shards[i].mu.Unlock()
	}
	return n
}
