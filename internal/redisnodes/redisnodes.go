// Package redisnodes runs a function on every Redis node that can hold
// keys, for the commands that enumerate keys (SCAN) rather than name one.
// go-redis sends such a command through a *redis.ClusterClient or a
// *redis.Ring to one node only: a SCAN whose MATCH pattern carries no
// hash tag goes, on a Ring, to the shard that the cursor hashes to, so a
// walk reaches one shard, or hops between shards with cursors that are
// not theirs; either way most keys are never seen. Every tenant deletion,
// purge and verification that scans goes through ForEach, so that it
// covers every node of every client type tenantwall accepts, and refuses
// the others.
package redisnodes

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

var (
	// ErrClient reports a client of a type whose nodes are not known (a
	// wrapper, go-redis's AutoPipeliner): a scan through it could reach
	// one node of several.
	ErrClient = errors.New("redis client of a type whose nodes are unknown")

	// ErrShardDown reports a Ring with a shard out: the keys the shard
	// holds cannot be scanned, and come back with it.
	ErrShardDown = errors.New("redis ring shard down")
)

// Check returns nil for a client whose nodes ForEach knows, else an error
// wrapping ErrClient that names its type.
func Check(c redis.UniversalClient) error {
	switch c.(type) {
	case *redis.Client, *redis.ClusterClient, *redis.Ring:
		return nil
	}
	return fmt.Errorf("%w: %T (want *redis.Client, *redis.ClusterClient or *redis.Ring)", ErrClient, c)
}

// Whole returns an error wrapping ErrShardDown for a *redis.Ring that has
// taken a shard it cannot reach out of its hashing (fewer live shards than
// RingOptions.Addrs): until the shard is back, a key of that shard is
// read, written and deleted on another one, and the shard's own copy comes
// back with it. A delete that must hold (a revocation) checks Whole first.
// Any other client is whole: its commands reach the key's node or fail.
func Whole(c redis.UniversalClient) error {
	if r, ok := c.(*redis.Ring); ok {
		if live, want := r.Len(), len(r.Options().Addrs); live < want {
			return fmt.Errorf("%w: %d of %d shards live", ErrShardDown, live, want)
		}
	}
	return nil
}

// ForEach calls fn with a client of each node of c that can hold keys
// and returns the first error:
//
//   - a *redis.Client is one server (or the primary a Sentinel failover
//     client follows): fn runs once, with c;
//   - a *redis.ClusterClient: fn runs on every master, concurrently
//     (ForEachMaster);
//   - a *redis.Ring: fn runs on every shard, concurrently (ForEachShard),
//     once every shard the Ring was created with (RingOptions.Addrs) is
//     live. A Ring takes a shard it cannot reach out of its hashing and
//     ForEachShard skips it, so a shard out is refused with ErrShardDown,
//     before fn runs if the Ring knows it already, else after. Shards set
//     later by Ring.SetAddrs are not counted.
//
// Any other type is refused with ErrClient, and fn does not run. Keys fn
// finds are on the node it was given: delete or read them through that
// client, which reaches them whatever the hashing says.
func ForEach(ctx context.Context, c redis.UniversalClient, fn func(ctx context.Context, node *redis.Client) error) error {
	switch c := c.(type) {
	case *redis.Client:
		return fn(ctx, c)
	case *redis.ClusterClient:
		return c.ForEachMaster(ctx, fn)
	case *redis.Ring:
		if err := Whole(c); err != nil {
			return err
		}
		want := len(c.Options().Addrs)
		var ran atomic.Int64
		err := c.ForEachShard(ctx, func(ctx context.Context, node *redis.Client) error {
			ran.Add(1)
			return fn(ctx, node)
		})
		if err != nil {
			return err
		}
		if n := ran.Load(); n < int64(want) {
			return fmt.Errorf("%w: %d of %d shards scanned", ErrShardDown, n, want)
		}
		return nil
	}
	return Check(c)
}
