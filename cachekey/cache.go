package cachekey

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sync/singleflight"
)

// Codec turns cached values into bytes and back. As with
// encoding.BinaryUnmarshaler, Unmarshal must copy data if it keeps it: a
// memory Keyspace hands it the stored bytes.
type Codec interface {
	Marshal(v any) ([]byte, error)
	Unmarshal(data []byte, v any) error
}

type jsonCodec struct{}

func (jsonCodec) Marshal(v any) ([]byte, error)      { return json.Marshal(v) }
func (jsonCodec) Unmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }

// Cache is a read-through cache of T values in the context tenant's
// namespace, on a Redis or a memory Keyspace. Get answers from the store,
// or calls the loader once for any number of concurrent misses of the same
// key and stores its result for the TTL. If Redis fails, Get logs it and serves the loader's result: a
// degraded cache is slower, never wrong, and never another tenant's.
// Safe for concurrent use.
type Cache[T any] struct {
	ks     *Keyspace
	ttl    time.Duration
	codec  Codec
	obs    Observer
	flight singleflight.Group
}

// CacheOption configures a Cache. An invalid one makes NewCache return an
// error wrapping ErrConfig that names it.
type CacheOption func(*cacheOptions) error

type cacheOptions struct {
	codec Codec
	obs   Observer
}

// Observer is told whether each Get was answered from the store, so that a
// metrics package (such as telemetry.Metrics) can count hits and misses
// without cachekey depending on it. It must be safe for concurrent use and
// must not block: it is called on the request path, with the Get's context,
// which carries the tenant.
type Observer interface {
	// CacheGet reports one Get with a tenant: hit when a stored value was
	// decoded and returned, otherwise a miss (including a Redis failure
	// that made Get load the value itself).
	CacheGet(ctx context.Context, hit bool)
}

// WithObserver sets the Observer of Gets (default none). A nil one is an
// error.
func WithObserver(obs Observer) CacheOption {
	return func(o *cacheOptions) error {
		if obs == nil {
			return fmt.Errorf("%w: WithObserver(nil)", ErrConfig)
		}
		o.obs = obs
		return nil
	}
}

// WithCodec replaces the default codec, encoding/json. A nil codec is an
// error.
func WithCodec(c Codec) CacheOption {
	return func(o *cacheOptions) error {
		if c == nil {
			return fmt.Errorf("%w: WithCodec(nil)", ErrConfig)
		}
		o.codec = c
		return nil
	}
}

// NewCache returns a read-through cache keeping entries for ttl.
func NewCache[T any](ks *Keyspace, ttl time.Duration, opts ...CacheOption) (*Cache[T], error) {
	if ks == nil || ttl <= 0 {
		return nil, fmt.Errorf("%w: cache needs a keyspace and a positive TTL", ErrConfig)
	}
	o := cacheOptions{codec: jsonCodec{}}
	for _, f := range opts {
		if err := f(&o); err != nil {
			return nil, err
		}
	}
	return &Cache[T]{ks: ks, ttl: ttl, codec: o.codec, obs: o.obs}, nil
}

// Get returns the value for the context tenant and parts, loading it with
// load on a miss. Without a tenant it returns tenant.ErrNoTenant and does
// not call load. A load error is returned and nothing is cached.
func (c *Cache[T]) Get(ctx context.Context, parts []string, load func(context.Context) (T, error)) (T, error) {
	var zero T
	key, err := c.ks.Key(ctx, parts...)
	if err != nil {
		if errors.Is(err, ErrNoParts) || c.noTenant(ctx) {
			return zero, err
		}
		// The generation could not be read: Redis is down. Degrade.
		c.ks.log.WarnContext(ctx, "cachekey: cache bypassed", "err", err)
		c.observe(ctx, false)
		return load(ctx)
	}
	data, found, err := c.ks.store.get(ctx, key)
	switch {
	case err != nil:
		c.ks.log.WarnContext(ctx, "cachekey: cache read failed, loading", "key", key, "err", err)
		c.observe(ctx, false)
		return load(ctx)
	case found:
		var v T
		if err := c.codec.Unmarshal(data, &v); err == nil {
			c.observe(ctx, true)
			return v, nil
		}
		c.ks.log.WarnContext(ctx, "cachekey: undecodable entry, reloading", "key", key)
	}
	c.observe(ctx, false)
	ch := c.flight.DoChan(key, func() (any, error) {
		// A caller that missed just before the previous load stored its
		// value must not load again.
		if data, found, err := c.ks.store.get(ctx, key); err == nil && found {
			var v T
			if c.codec.Unmarshal(data, &v) == nil {
				return v, nil
			}
		}
		// Shared by every waiter: not cancelled with the first one.
		v, err := load(context.WithoutCancel(ctx))
		if err != nil {
			return v, err
		}
		if data, err := c.codec.Marshal(v); err != nil {
			c.ks.log.WarnContext(ctx, "cachekey: value not cached", "key", key, "err", err)
		} else if err := c.ks.store.set(ctx, key, data, c.ttl); err != nil {
			c.ks.log.WarnContext(ctx, "cachekey: cache write failed", "key", key, "err", err)
		}
		return v, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return zero, r.Err
		}
		return r.Val.(T), nil
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}

// Delete removes the context tenant's entry for parts.
func (c *Cache[T]) Delete(ctx context.Context, parts ...string) error {
	key, err := c.ks.Key(ctx, parts...)
	if err != nil {
		return err
	}
	return c.ks.store.del(ctx, key)
}

func (c *Cache[T]) observe(ctx context.Context, hit bool) {
	if c.obs != nil {
		c.obs.CacheGet(ctx, hit)
	}
}

func (c *Cache[T]) noTenant(ctx context.Context) bool {
	_, err := c.ks.Namespace(ctx)
	return err != nil
}
