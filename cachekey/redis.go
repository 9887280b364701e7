package cachekey

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisStore keeps generations and entries in Redis: the store of New.
// Generations are cached in the process (Keyspace.gens) and kept fresh by
// the Keyspace's subscriber and refresher.
type redisStore struct{ k *Keyspace }

var _ store = redisStore{}

func (r redisStore) generation(ctx context.Context, id string) (uint64, error) {
	g, err := r.k.fetch(ctx, id)
	if err != nil {
		return 0, err
	}
	r.k.gens.observe(id, g)
	return g, nil
}

func (r redisStore) bump(ctx context.Context, id string) (uint64, error) {
	k := r.k
	g, err := k.client.Incr(ctx, k.genKey(id)).Uint64()
	if err != nil {
		return 0, err
	}
	k.gens.observe(id, g)
	if err := k.client.Publish(ctx, k.channel, id+" "+strconv.FormatUint(g, 10)).Err(); err != nil {
		// The bump stands; other processes see it within the refresh
		// interval.
		k.log.WarnContext(ctx, "cachekey: publish invalidation", "tenant", id, "err", err)
	}
	return g, nil
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
