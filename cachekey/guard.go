package cachekey

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/tenantwall/tenantwall/tenant"
)

type internalKey struct{}

// internal marks the Keyspace's own commands (generation reads and bumps,
// purges), which the Guard lets through. The key type is unexported, so
// callers cannot forge the mark.
func internal(ctx context.Context) context.Context {
	return context.WithValue(ctx, internalKey{}, true)
}

func isInternal(ctx context.Context) bool {
	v, _ := ctx.Value(internalKey{}).(bool)
	return v
}

// keySpec says where a command's keys are in its arguments (args[0] is the
// command name).
type keySpec uint8

const (
	keysNone       keySpec = iota + 1 // no keys
	keysFirst                         // args[1]
	keysAll                           // args[1:]
	keysPairs                         // args[1], args[3], … (MSET)
	keysFirstTwo                      // args[1], args[2]
	keysAllButLast                    // args[1:len-1] (BLPOP … timeout)
	keysEval                          // numkeys at args[2], keys follow
	keysSecond                        // args[2] (OBJECT ENCODING key)
	keysStore                         // dest args[1], numkeys args[2], keys follow (ZUNIONSTORE)
)

var commandKeys = map[string]keySpec{}

func init() {
	add := func(s keySpec, names string) {
		for _, n := range strings.Fields(names) {
			commandKeys[n] = s
		}
	}
	// Connection housekeeping go-redis sends on its own.
	add(keysNone, "ping echo hello auth client readonly readwrite quit reset time command multi exec discard unwatch")
	add(keysFirst, `get set setnx setex psetex getset getdel getex append strlen incr incrby incrbyfloat decr decrby
		expire expireat pexpire pexpireat persist ttl pttl expiretime pexpiretime type
		getrange setrange setbit getbit bitcount bitpos bitfield
		hget hset hsetnx hmset hmget hdel hlen hkeys hvals hgetall hincrby hincrbyfloat hexists hstrlen hrandfield hscan
		lpush rpush lpushx rpushx lpop rpop llen lrange lindex lset lrem ltrim linsert lpos
		sadd srem smembers sismember smismember scard spop srandmember sscan
		zadd zrem zscore zmscore zincrby zcard zcount zlexcount zrange zrangebyscore zrangebylex zrevrange zrevrangebyscore
		zrevrangebylex zrank zrevrank zremrangebyrank zremrangebyscore zremrangebylex zpopmin zpopmax zrandmember zscan
		pfadd xadd xlen xrange xrevrange xdel xtrim xack xclaim xautoclaim xpending
		geoadd geopos geodist geohash geosearch georadius georadiusbymember
		dump restore`)
	add(keysAll, "del unlink exists mget touch watch sinter sunion sdiff sinterstore sunionstore sdiffstore pfcount pfmerge")
	add(keysPairs, "mset msetnx")
	add(keysFirstTwo, "rename renamenx smove rpoplpush lmove copy")
	add(keysAllButLast, "blpop brpop bzpopmin bzpopmax brpoplpush")
	add(keysEval, "eval evalsha eval_ro evalsha_ro fcall fcall_ro")
	add(keysSecond, "object")
	add(keysStore, "zunionstore zinterstore zdiffstore")
}

// Guard is a go-redis hook that fails closed: every command whose keys
// are not all inside the context tenant's namespace is refused before it
// is sent, single commands and pipelines alike. Commands it cannot check
// (unknown ones, and keyspace-wide ones such as KEYS, SCAN, FLUSHDB) are
// refused too, as is any keyed command without a tenant in the context.
// A key inside another tenant's namespace is reported to the auditor as a
// cross-tenant attempt.
//
// Install it with client.AddHook(ks.Guard()). Keys that really are global
// can be allowed by exact name or prefix (WithGlobalKeys,
// WithGlobalPrefixes).
type Guard struct {
	ks       *Keyspace
	exact    map[string]bool
	prefixes []string
	commands map[string]keySpec
}

var _ redis.Hook = (*Guard)(nil)

// GuardOption configures a Guard.
type GuardOption func(*Guard)

// WithGlobalKeys allows these exact keys for every tenant and for
// requests without one.
func WithGlobalKeys(keys ...string) GuardOption {
	return func(g *Guard) {
		for _, k := range keys {
			g.exact[k] = true
		}
	}
}

// WithGlobalPrefixes allows keys starting with these prefixes for every
// tenant and for requests without one. A prefix must not be a prefix of the
// Keyspace's own namespaces.
func WithGlobalPrefixes(prefixes ...string) GuardOption {
	return func(g *Guard) { g.prefixes = append(g.prefixes, prefixes...) }
}

// WithKeylessCommands allows commands that touch no key (such as
// "publish" or "info") that the Guard does not know.
func WithKeylessCommands(names ...string) GuardOption {
	return func(g *Guard) {
		for _, n := range names {
			g.commands[strings.ToLower(n)] = keysNone
		}
	}
}

// Guard returns a fail-closed hook for this Keyspace's namespaces.
func (k *Keyspace) Guard(opts ...GuardOption) *Guard {
	g := &Guard{ks: k, exact: map[string]bool{}, commands: map[string]keySpec{}}
	for n, s := range commandKeys {
		g.commands[n] = s
	}
	for _, o := range opts {
		o(g)
	}
	own := k.prefix + ":"
	for _, p := range g.prefixes {
		if strings.HasPrefix(own, p) || strings.HasPrefix(p, own) {
			panic(fmt.Sprintf("cachekey: global prefix %q overlaps the tenant namespaces %q", p, own))
		}
	}
	return g
}

// DialHook implements redis.Hook.
func (g *Guard) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) { return next(ctx, network, addr) }
}

// ProcessHook implements redis.Hook.
func (g *Guard) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if err := g.Check(ctx, cmd.Args()); err != nil {
			cmd.SetErr(err)
			return err
		}
		return next(ctx, cmd)
	}
}

// ProcessPipelineHook implements redis.Hook. One refused command refuses
// the whole pipeline, before any of it is sent.
func (g *Guard) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, cmd := range cmds {
			if err := g.Check(ctx, cmd.Args()); err != nil {
				for _, c := range cmds {
					c.SetErr(err)
				}
				return err
			}
		}
		return next(ctx, cmds)
	}
}

// Check applies the guard to one command's arguments (args[0] is the
// command name), as the hook does.
func (g *Guard) Check(ctx context.Context, args []any) error {
	if len(args) == 0 || isInternal(ctx) {
		return nil
	}
	name := strings.ToLower(fmt.Sprint(args[0]))
	spec, known := g.commands[name]
	if !known {
		return fmt.Errorf("%w: %q", ErrCommand, name)
	}
	keys, err := extractKeys(spec, args)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrCommand, name, err)
	}
	if len(keys) == 0 {
		return nil
	}
	id, terr := tenant.IDFromContext(ctx)
	ns := ""
	if terr == nil {
		ns = g.ks.namespace(id)
	}
	for _, key := range keys {
		if g.global(key) {
			continue
		}
		if terr != nil {
			return fmt.Errorf("%w: %s %.100q: %w", ErrForeignKey, name, key, tenant.ErrNoTenant)
		}
		if !strings.HasPrefix(key, ns) {
			if owner := g.ks.ownerOf(key); owner != "" {
				g.ks.auditor.Audit(ctx, tenant.Event{Kind: tenant.EventCrossTenant, Package: "cachekey",
					TenantID: id, OwnerID: owner, Resource: name + " " + truncate(key, 200)})
			}
			return fmt.Errorf("%w: %s %.100q", ErrForeignKey, name, key)
		}
	}
	return nil
}

func (g *Guard) global(key string) bool {
	if g.exact[key] {
		return true
	}
	for _, p := range g.prefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// ownerOf returns the tenant whose namespace key lies in, if any.
func (k *Keyspace) ownerOf(key string) string {
	rest, ok := strings.CutPrefix(key, k.prefix+":")
	if !ok {
		return ""
	}
	if k.hashTags {
		if !strings.HasPrefix(rest, "{") || len(rest) < 38 || rest[37] != '}' {
			return ""
		}
		rest = rest[1:]
	}
	if len(rest) < 36 || tenant.ValidateID(rest[:36]) != nil {
		return ""
	}
	return rest[:36]
}

func extractKeys(spec keySpec, args []any) ([]string, error) {
	var idx []int
	n := len(args)
	switch spec {
	case keysNone:
		return nil, nil
	case keysFirst:
		if n < 2 {
			return nil, fmt.Errorf("no key")
		}
		idx = []int{1}
	case keysAll:
		for i := 1; i < n; i++ {
			idx = append(idx, i)
		}
	case keysPairs:
		for i := 1; i < n; i += 2 {
			idx = append(idx, i)
		}
	case keysFirstTwo:
		if n < 3 {
			return nil, fmt.Errorf("want two keys")
		}
		idx = []int{1, 2}
	case keysAllButLast:
		for i := 1; i < n-1; i++ {
			idx = append(idx, i)
		}
	case keysSecond:
		if n < 3 {
			return nil, fmt.Errorf("no key")
		}
		idx = []int{2}
	case keysEval, keysStore:
		if n < 3 {
			return nil, fmt.Errorf("no numkeys")
		}
		nk, err := strconv.Atoi(fmt.Sprint(args[2]))
		if err != nil || nk < 0 || 3+nk > n {
			return nil, fmt.Errorf("bad numkeys %v", args[2])
		}
		if spec == keysStore {
			idx = append(idx, 1)
		}
		for i := 3; i < 3+nk; i++ {
			idx = append(idx, i)
		}
	}
	keys := make([]string, 0, len(idx))
	for _, i := range idx {
		switch v := args[i].(type) {
		case string:
			keys = append(keys, v)
		case []byte:
			keys = append(keys, string(v))
		default:
			return nil, fmt.Errorf("key argument %d is a %T", i, v)
		}
	}
	return keys, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
