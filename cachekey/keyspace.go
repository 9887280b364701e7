package cachekey

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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
//	<prefix>:<T's ID>:e<epoch>:g<generation>:<part>:<part>…     ({T's ID} with hash tags)
//
// built on the tenant's immutable ID, with parts escaped so that no part
// list can collide with another or leave the tenant's namespace.
// Invalidate bumps the tenant's generation with one INCR: old entries
// become unreachable and expire by their TTL.
//
// The generation is cached in the process, so Key costs no round trip.
// Bumps reach other processes at once through Redis pub/sub, and every
// process reads the invalidation log every refresh interval (WithRefresh,
// log.go), which bounds the staleness if a message is lost. The
// epoch, a random token kept in Redis beside the generations, changes
// when Redis is found to have lost data, which makes every earlier key
// unreachable (see epoch.go and the package documentation).
//
// NewMemory builds a Keyspace with the same keys that keeps generations
// and entries in this process instead of Redis.
//
// A Keyspace is safe for concurrent use. Close stops its goroutines; it
// does not close the Redis client.
type Keyspace struct {
	client redis.UniversalClient
	options

	gens   atomic.Pointer[generations] // replaced whole when the epoch changes
	flight singleflight.Group
	store  store // Redis (New) or memory (NewMemory)

	retiredMu sync.Mutex
	retired   []string      // epochs this process has left, newest last
	kick      chan struct{} // asks the refresher for an early refresh

	channel string
	sharded bool // sharded pub/sub (SPUBLISH/SSUBSCRIBE): on a cluster

	// The invalidation log (log.go): the last entry applied, whether that
	// is meaningful (false until the first full refresh), and how many
	// full refreshes ran.
	lastSeq       atomic.Uint64
	inStep        atomic.Bool
	fullRefreshes atomic.Int64
	dropMessages  atomic.Bool // tests: lose every pub/sub message

	topicsMu  sync.Mutex
	topics    map[string]*Topic
	delivered map[uint64]struct{} // Topic entries delivered ahead of the log follower

	stop context.CancelFunc
	done sync.WaitGroup
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

// WithRefresh sets how often the invalidation log and the epoch are read
// from Redis (default DefaultRefresh): the longest a lost invalidation
// message, or a loss of Redis's data noticed by another process, can leave
// this process serving the previous generation. It is also how often a
// failed invalidation is retried. Each read is three commands, whatever
// the number of tenants.
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

// New returns a Keyspace on client (a single node, Sentinel, Cluster or
// Ring client) and starts its invalidation subscriber (sharded pub/sub on a
// Cluster client) and refresher.
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
	// The epoch is read with the first generation: New needs no round
	// trip, and Redis may be down when the process starts.
	k.gens.Store(newGenerations(k.maxTenants, ""))
	k.store = redisStore{k}
	k.kick = make(chan struct{}, 1)
	k.channel = k.prefix + ":generations"
	k.topics = map[string]*Topic{}
	k.delivered = map[uint64]struct{}{}
	ctx, cancel := context.WithCancel(internal(context.Background()))
	k.stop = cancel
	var ps *redis.PubSub
	if _, cluster := client.(*redis.ClusterClient); cluster {
		// Sharded pub/sub (Redis 7) reaches only the channel's shard
		// instead of every node of the cluster.
		k.sharded = true
		ps = client.SSubscribe(ctx, k.channel)
	} else {
		ps = client.Subscribe(ctx, k.channel)
	}
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

// genKey is the tenant's generation counter, "<prefix>:gen:<id>" (with
// hash tags "<prefix>:gen:{<id>}", in the tenant's slot). It is kept
// outside the tenant's namespace: no guarded command of the tenant can
// reset it (which other processes would take for a loss of Redis's data,
// starting a new epoch for every tenant), and Purge's SCAN of the
// namespace does not delete it.
func (k *Keyspace) genKey(id string) string {
	if k.hashTags {
		return k.prefix + ":gen:{" + id + "}"
	}
	return k.prefix + ":gen:" + id
}

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
	// The generation and the epoch segment come from one generations
	// value: a counter is never written beside another epoch's segment.
	g := k.gens.Load()
	if c, ok := g.load(id); ok {
		return build(k.prefix, id, k.hashTags, g.seg, c.Load(), parts), nil
	}
	v, err := k.generation(ctx, id)
	if err != nil {
		return "", err
	}
	return build(k.prefix, id, k.hashTags, v.g.seg, v.gen, parts), nil
}

// generationOf is a tenant's generation and the generations (so the
// epoch) it belongs to.
type generationOf struct {
	g   *generations
	gen uint64
}

func (k *Keyspace) generation(ctx context.Context, id string) (generationOf, error) {
	v, err, _ := k.flight.Do(id, func() (any, error) {
		g, gen, err := k.store.generation(internal(ctx), id)
		return generationOf{g, gen}, err
	})
	if err != nil {
		return generationOf{}, fmt.Errorf("cachekey: generation of tenant %s: %w", id, err)
	}
	return v.(generationOf), nil
}

// Invalidate drops every cached entry of the context tenant at once, by
// bumping its generation (one INCR) and telling the other processes.
//
// If Redis cannot be reached, Invalidate returns the error and keeps the
// invalidation pending: until it reaches Redis (retried on the tenant's
// next Key and every refresh interval), this process uses no generation
// of the tenant, so Key fails and a Cache loads without caching. Other
// processes see the invalidation once it reaches Redis.
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
			if k.dropMessages.Load() {
				continue
			}
			if strings.HasPrefix(m.Payload, "@") {
				n, topic, msg, ok := topicMessage(m.Payload)
				if !ok {
					k.log.Warn("cachekey: malformed topic message", "payload", m.Payload)
					continue
				}
				k.deliver(n, topic, msg)
				continue
			}
			id, rest, ok1 := strings.Cut(m.Payload, " ")
			epoch, gs, ok2 := strings.Cut(rest, " ")
			gen, err := strconv.ParseUint(gs, 10, 64)
			if !ok1 || !ok2 || err != nil || tenant.ValidateID(id) != nil || !validEpoch(epoch) {
				k.log.Warn("cachekey: malformed invalidation message", "payload", m.Payload)
				continue
			}
			g := k.gens.Load()
			if epoch != g.epoch {
				// A message is no authority on the epoch (it may be
				// older than the current one): read it from Redis now.
				k.refreshSoon()
				continue
			}
			if _, known := g.load(id); known {
				g.observe(id, gen)
			}
		}
	}
}

// refreshSoon asks the refresher for a refresh now, without waiting.
func (k *Keyspace) refreshSoon() {
	select {
	case k.kick <- struct{}{}:
	default:
	}
}

// publish tells the other processes about a bump.
func (k *Keyspace) publish(ctx context.Context, id, epoch string, gen uint64) {
	k.publishRaw(ctx, id+" "+epoch+" "+strconv.FormatUint(gen, 10))
}

// publishRaw sends msg on the invalidation channel. A failure is logged
// only: the message is in the log, which other processes read within
// the refresh interval.
func (k *Keyspace) publishRaw(ctx context.Context, msg string) {
	var err error
	if k.sharded {
		err = k.client.SPublish(ctx, k.channel, msg).Err()
	} else {
		err = k.client.Publish(ctx, k.channel, msg).Err()
	}
	if err != nil {
		k.log.WarnContext(ctx, "cachekey: publish invalidation", "err", err)
	}
}

// refresher retries pending invalidations and follows the invalidation
// log each interval (log.go), bounding staleness when pub/sub messages
// are lost.
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
		case <-k.kick:
			k.inStep.Store(false) // a message from another epoch: read everything
			k.refreshOnce(ctx)
		}
	}
}

// refreshOnce retries pending invalidations, then follows the log.
func (k *Keyspace) refreshOnce(ctx context.Context) {
	ctx = internal(ctx)
	for _, id := range k.gens.Load().pendingIDs() {
		if _, err := k.store.bump(ctx, id); err != nil {
			if ctx.Err() == nil {
				k.log.Warn("cachekey: pending invalidation", "tenant", id, "err", err)
			}
			return
		}
	}
	k.follow(ctx)
}

// refreshAll reads the epoch and every cached generation in pipelines of
// 1,000, and reports whether it read them all. A changed epoch replaces
// the whole generation cache; a generation lower than the one cached
// before the read was sent retires the epoch (see epoch.go).
func (k *Keyspace) refreshAll(ctx context.Context) bool {
	g := k.gens.Load()
	g.merge()
	ids := g.ids()
	for first := true; first || len(ids) > 0; first = false {
		n := min(len(ids), 1000)
		batch := ids[:n]
		ids = ids[n:]
		// What was known before the read was sent: Redis cannot answer
		// less unless it lost writes.
		before := make([]uint64, len(batch))
		for i, id := range batch {
			before[i], _ = g.value(id)
		}
		var ep *redis.StringCmd
		cmds := make([]*redis.StringCmd, len(batch))
		_, err := k.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			ep = p.Get(ctx, k.epochKey())
			for i, id := range batch {
				cmds[i] = p.Get(ctx, k.genKey(id))
			}
			return nil
		})
		if err != nil && !errors.Is(err, redis.Nil) {
			if ctx.Err() == nil {
				k.log.Warn("cachekey: refresh generations", "err", err)
			}
			return false
		}
		seen, found, err := readEpoch(ep)
		if err != nil {
			if ctx.Err() == nil {
				k.log.Warn("cachekey: refresh epoch", "err", err)
			}
			return false
		}
		if !found || seen != g.epoch {
			if _, err := k.settle(ctx, seen, found); err != nil {
				if ctx.Err() == nil {
					k.log.Warn("cachekey: refresh epoch", "err", err)
				}
				return false
			}
			return true // a new epoch starts with no generations
		}
		for i, c := range cmds {
			v, err := c.Uint64()
			if errors.Is(err, redis.Nil) {
				v, err = 0, nil
			}
			if err != nil {
				k.log.Warn("cachekey: unreadable generation", "tenant", batch[i], "err", err)
				g.forget(batch[i])
				continue
			}
			if v < before[i] {
				if _, err := k.retire(ctx, g.epoch); err != nil {
					if ctx.Err() == nil {
						k.log.Warn("cachekey: refresh epoch", "err", err)
					}
					return false
				}
				return true
			}
			g.observe(batch[i], v)
		}
	}
	return true
}
