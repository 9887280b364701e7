package cachekey

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisStore keeps generations and entries in Redis: the store of New.
// Generations are cached in the process (Keyspace.gens) and kept fresh by
// the Keyspace's subscriber and refresher.
type redisStore struct{ k *Keyspace }

var _ store = redisStore{}

// generation reads the epoch and the tenant's generation in one round
// trip. A tenant whose invalidation is pending gets it first.
func (r redisStore) generation(ctx context.Context, id string) (*generations, uint64, error) {
	k := r.k
	if k.gens.Load().isPending(id) {
		if _, err := r.bump(ctx, id); err != nil {
			return nil, 0, fmt.Errorf("invalidation pending: %w", err)
		}
	}
	var ep, gc *redis.StringCmd
	_, err := k.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		ep = p.Get(ctx, k.epochKey())
		gc = p.Get(ctx, k.genKey(id))
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, 0, err
	}
	gen, err := gc.Uint64()
	if errors.Is(err, redis.Nil) {
		gen, err = 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("generation key %s: %w", k.genKey(id), err)
	}
	seen, found, err := readEpoch(ep)
	if err != nil {
		// An unreadable epoch is no evidence of a loss: fail, not rotate.
		return nil, 0, fmt.Errorf("epoch key %s: %w", k.epochKey(), err)
	}
	// Whatever the epoch, gen is a valid start: within a new epoch no key
	// has been written yet, at any generation.
	g, err := k.settle(ctx, seen, found)
	if err != nil {
		return nil, 0, err
	}
	g.observe(id, gen)
	if v, ok := g.value(id); ok {
		gen = v
	} else if g.isPending(id) {
		return nil, 0, fmt.Errorf("invalidation of tenant %s pending", id)
	}
	return g, gen, nil
}

// bump increments the tenant's generation, reads the epoch and appends
// the bump to the invalidation log: one round trip on a single server,
// two on a cluster or a Ring. If Redis cannot be reached the invalidation stays pending
// (see Keyspace.Invalidate). If the epoch changed, or the new generation
// is not above the one cached before, Redis lost data: a new epoch, which
// the bump then needs no more, drops every entry.
func (r redisStore) bump(ctx context.Context, id string) (uint64, error) {
	k := r.k
	g := k.gens.Load()
	before, known := g.value(id)
	seen, found, v, logged, err := r.incr(ctx, id)
	if err != nil {
		k.markPending(g, id)
		return 0, err
	}
	switch {
	case !found || seen != g.epoch:
		g, err = k.settle(ctx, seen, found)
	case known && v <= before:
		g, err = k.retire(ctx, g.epoch)
	default:
		g.clearPending(id)
		g.observe(id, v)
	}
	if err != nil {
		k.markPending(k.gens.Load(), id)
		return 0, err
	}
	// The log entry follows the INCR (it carries the new generation): if
	// it cannot be written, the invalidation stays pending and is retried
	// whole, so no bump acknowledged by Invalidate is missing from it.
	if !logged {
		if _, err := k.appendLog(ctx, "t", id, "e", g.epoch, "g", strconv.FormatUint(v, 10)); err != nil {
			k.markPending(g, id)
			return 0, fmt.Errorf("invalidation log: %w", err)
		}
	}
	k.publish(ctx, id, g.epoch, v)
	return v, nil
}

func (r redisStore) get(ctx context.Context, key string) ([]byte, bool, error) {
	data, err := r.k.client.Get(ctx, key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return data, true, nil
}

func (r redisStore) set(ctx context.Context, key string, data []byte, ttl time.Duration) error {
	return r.k.client.Set(ctx, key, data, ttl).Err()
}

func (r redisStore) del(ctx context.Context, key string) error {
	return r.k.client.Del(ctx, key).Err()
}

// incr reads the epoch and increments tenant id's generation; logged
// reports whether the bump is in the invalidation log already, under the
// epoch read. On one server (a *redis.Client) it is one script, log entry
// included. Elsewhere the keys may be on different nodes: a cluster
// refuses a script across slots, and a Ring would run it on the shard of
// its first key, writing the generation where no reader looks for it. So
// it is a pipeline of GET and INCR, each sent to its key's node, and the
// caller appends to the log afterwards.
func (r redisStore) incr(ctx context.Context, id string) (seen string, found bool, v uint64, logged bool, err error) {
	k := r.k
	if _, one := k.client.(*redis.Client); one {
		res, err := bumpScript.Run(ctx, k.client, []string{k.epochKey(), k.genKey(id), k.logKey(), k.seqKey()}, logLen, id).Slice()
		if err != nil {
			return "", false, 0, false, err
		}
		if len(res) != 2 {
			return "", false, 0, false, fmt.Errorf("bump script answered %d values", len(res))
		}
		n, ok := res[1].(int64)
		if !ok || n < 0 {
			return "", false, 0, false, fmt.Errorf("bump script answered generation %v", res[1])
		}
		if res[0] == nil {
			return "", false, uint64(n), false, nil
		}
		seen, ok = res[0].(string)
		if !ok {
			return "", false, 0, false, fmt.Errorf("bump script answered epoch %v", res[0])
		}
		return seen, true, uint64(n), true, nil
	}
	var ep *redis.StringCmd
	var inc *redis.IntCmd
	_, _ = k.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		ep = p.Get(ctx, k.epochKey())
		inc = p.Incr(ctx, k.genKey(id))
		return nil
	})
	seen, found, eerr := readEpoch(ep)
	v, err = inc.Uint64()
	if err == nil {
		err = eerr
	}
	return seen, found, v, false, err
}
