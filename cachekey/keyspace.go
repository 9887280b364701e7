package cachekey

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/singleflight"

	"github.com/tenantwall/tenantwall/tenant"
)

// Defaults of the options.
const (
	DefaultPrefix     = "tw"
	DefaultRefresh    = time.Second
	DefaultMaxTenants = 100_000
)

// Keyspace builds tenant-scoped Redis keys and drops a tenant's entries in
// O(1). Every key of tenant T is
//
//	<prefix>:<T's ID>:g<generation>:<part>:<part>…     ({T's ID} with hash tags)
//
// built on the tenant's immutable ID, with parts escaped so that no part
// list can collide with another or leave the tenant's namespace.
// Invalidate bumps the tenant's generation with one INCR: old entries
// become unreachable and expire by their TTL.
//
// The generation is cached in the process, so Key costs no round trip.
// Bumps reach other processes at once through Redis pub/sub, and every
// process re-reads the generations it holds every refresh interval
// (WithRefresh), which bounds the staleness if a message is lost.
//
// NewMemory builds a Keyspace with the same keys that keeps generations
// and entries in this process instead of Redis.
//
// A Keyspace is safe for concurrent use. Close stops its goroutines; it
// does not close the Redis client.
type Keyspace struct {
	client redis.UniversalClient
	options

	gens   *generations
	flight singleflight.Group
	store  store // Redis (New) or memory (NewMemory)

	channel string
	stop    context.CancelFunc
	done    sync.WaitGroup
}

// Option configures a Keyspace. Options write to a private options value,
// never to a live Keyspace, and an invalid one makes New return an error
// wrapping ErrConfig that names it.
type Option func(*options) error

// options are what New's options set; Keyspace embeds them.
type options struct {
	prefix     string
	hashTags   bool
	refresh    time.Duration
	maxTenants int
	auditor    tenant.Auditor
	log        *slog.Logger
}

// WithPrefix sets the first key segment (default DefaultPrefix): ASCII
// letters, digits, '_', '.', '-'.
func WithPrefix(p string) Option {
	return func(o *options) error {
		if p == "" || len(p) > 32 {
			return fmt.Errorf("%w: WithPrefix(%q): 1 to 32 characters", ErrConfig, p)
		}
		for i := 0; i < len(p); i++ {
			c := p[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
				return fmt.Errorf("%w: WithPrefix(%q): character %q", ErrConfig, p, c)
			}
		}
		o.prefix = p
		return nil
	}
}

// WithHashTags wraps the tenant ID in a Redis Cluster hash tag, {id}, so
// that all of a tenant's keys live in one slot: multi-key commands and
// Lua scripts across them work, and a purge scans one node. The price is
// that a large or busy tenant cannot be spread over the cluster. Off by
// default; without a cluster it changes nothing but the key text.
func WithHashTags(on bool) Option {
	return func(o *options) error { o.hashTags = on; return nil }
}

// WithRefresh sets how often cached generations are re-read from Redis
// (default DefaultRefresh): the longest a lost invalidation message can
// leave this process serving the previous generation.
func WithRefresh(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("%w: WithRefresh(%v): not positive", ErrConfig, d)
		}
		o.refresh = d
		return nil
	}
}

// WithMaxTenants bounds the in-process generation cache (default
// DefaultMaxTenants); beyond it an arbitrary tenant is dropped and re-read
// on next use.
func WithMaxTenants(n int) Option {
	return func(o *options) error {
		if n <= 0 {
			return fmt.Errorf("%w: WithMaxTenants(%d): not positive", ErrConfig, n)
		}
		o.maxTenants = n
		return nil
	}
}

// WithAuditor sets where cross-tenant keys refused by the Guard and purges
// are reported (default tenant.DefaultAuditor).
func WithAuditor(a tenant.Auditor) Option {
	return func(o *options) error { o.auditor = tenant.OrDefault(a); return nil }
}

// WithLogger sets the logger for degraded operation (default
// slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l != nil {
			o.log = l
		}
		return nil
	}
}

// New returns a Keyspace on client (a single node, Sentinel or Cluster
// client) and starts its invalidation subscriber and refresher.
func New(client redis.UniversalClient, opts ...Option) (*Keyspace, error) {
	if client == nil {
		return nil, fmt.Errorf("%w: nil client", ErrConfig)
	}
	o := options{
		prefix:     DefaultPrefix,
		refresh:    DefaultRefresh,
		maxTenants: DefaultMaxTenants,
		auditor:    tenant.DefaultAuditor,
		log:        slog.Default(),
	}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	k := &Keyspace{client: client, options: o}
	k.gens = newGenerations(k.maxTenants)
	k.store = redisStore{k}
	k.channel = k.prefix + ":generations"
	ctx, cancel := context.WithCancel(internal(context.Background()))
	k.stop = cancel
	ps := client.Subscribe(ctx, k.channel)
	k.done.Add(2)
	go k.subscribe(ctx, ps)
	go k.refresher(ctx)
	return k, nil
}

// Close stops the subscriber and the refresher of a Redis Keyspace. A
// memory Keyspace has neither; Close does nothing.
func (k *Keyspace) Close() error {
	if k.stop != nil {
		k.stop()
	}
	k.done.Wait()
	return nil
}

// namespace returns "<prefix>:<id>:" (or "<prefix>:{<id>}:").
func (k *Keyspace) namespace(id string) string {
	if k.hashTags {
		return k.prefix + ":{" + id + "}:"
	}
	return k.prefix + ":" + id + ":"
}

// Namespace returns the prefix every key of the context tenant starts
// with.
func (k *Keyspace) Namespace(ctx context.Context) (string, error) {
	id, err := tenant.IDFromContext(ctx)
	if err != nil {
		return "", err
	}
	return k.namespace(id), nil
}

func (k *Keyspace) genKey(id string) string { return k.namespace(id) + "gen" }

// Key builds the context tenant's key for parts, such as
// Key(ctx, "dashboard", "overview", userID, filter). It needs at least one
// part; parts may hold any bytes. Without a tenant it returns
// tenant.ErrNoTenant. It reads Redis only the first time this process
// sees the tenant.
func (k *Keyspace) Key(ctx context.Context, parts ...string) (string, error) {
	id, err := tenant.IDFromContext(ctx)
	if err != nil {
		return "", err
	}
	if len(parts) == 0 {
		return "", ErrNoParts
	}
	gen, err := k.generation(ctx, id)
	if err != nil {
		return "", err
	}
	return build(k.prefix, id, k.hashTags, gen, parts), nil
}

func (k *Keyspace) generation(ctx context.Context, id string) (uint64, error) {
	if c, ok := k.gens.load(id); ok {
		return c.Load(), nil
	}
	v, err, _ := k.flight.Do(id, func() (any, error) {
		return k.store.generation(internal(ctx), id)
	})
	if err != nil {
		return 0, fmt.Errorf("cachekey: generation of tenant %s: %w", id, err)
	}
	return v.(uint64), nil
}

func (k *Keyspace) fetch(ctx context.Context, id string) (uint64, error) {
	s, err := k.client.Get(ctx, k.genKey(id)).Result()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(s, 10, 64)
}

// Invalidate drops every cached entry of the context tenant at once, by
// bumping its generation (one INCR) and telling the other processes.
func (k *Keyspace) Invalidate(ctx context.Context) error {
	id, err := tenant.IDFromContext(ctx)
	if err != nil {
		return err
	}
	return k.bump(ctx, id)
}

// InvalidateTenant is Invalidate for a tenant named by ID, for platform
// code (a tenant's data changed by an operator or a migration). It acts
// outside the context tenant, so it is platform work: ctx must carry
// tenant.WithPlatformScope's reason, and the use is reported to the
// auditor; without it the error wraps tenant.ErrNoTenant.
func (k *Keyspace) InvalidateTenant(ctx context.Context, id string) error {
	if err := tenant.ValidateID(id); err != nil {
		return err
	}
	if _, err := tenant.RequirePlatformScope(ctx, k.auditor, tenant.Event{Package: "cachekey",
		OwnerID: id, Resource: "invalidate"}); err != nil {
		return err
	}
	return k.bump(ctx, id)
}

func (k *Keyspace) bump(ctx context.Context, id string) error {
	if _, err := k.store.bump(internal(ctx), id); err != nil {
		return fmt.Errorf("cachekey: invalidate tenant %s: %w", id, err)
	}
	return nil
}

func (k *Keyspace) subscribe(ctx context.Context, ps *redis.PubSub) {
	defer k.done.Done()
	defer ps.Close()
	ch := ps.Channel()
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-ch:
			if !ok {
				return
			}
			id, gs, found := strings.Cut(m.Payload, " ")
			g, err := strconv.ParseUint(gs, 10, 64)
			if !found || err != nil || tenant.ValidateID(id) != nil {
				k.log.Warn("cachekey: malformed invalidation message", "payload", m.Payload)
				continue
			}
			if _, known := k.gens.load(id); known {
				k.gens.observe(id, g)
			}
		}
	}
}

// refresher re-reads every cached generation each interval, in one
// pipeline, bounding staleness when pub/sub messages are lost.
func (k *Keyspace) refresher(ctx context.Context) {
	defer k.done.Done()
	t := time.NewTicker(k.refresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			k.refreshOnce(ctx)
		}
	}
}

func (k *Keyspace) refreshOnce(ctx context.Context) {
	k.gens.merge()
	ids := k.gens.ids()
	for len(ids) > 0 {
		n := min(len(ids), 1000)
		batch := ids[:n]
		ids = ids[n:]
		cmds := make([]*redis.StringCmd, len(batch))
		_, err := k.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, id := range batch {
				cmds[i] = p.Get(ctx, k.genKey(id))
			}
			return nil
		})
		if err != nil && !errors.Is(err, redis.Nil) {
			if ctx.Err() == nil {
				k.log.Warn("cachekey: refresh generations", "err", err)
			}
			return
		}
		for i, c := range cmds {
			if g, err := c.Uint64(); err == nil {
				k.gens.observe(batch[i], g)
			}
		}
	}
}
