package cachekey

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/redis/go-redis/v9"

	"github.com/tenantwall/tenantwall/internal/redisnodes"
	"github.com/tenantwall/tenantwall/tenant"
)

// purgeBatch is how many keys one SCAN step asks for and one UNLINK drops.
const purgeBatch = 500

// Purge really deletes every key in a tenant's namespace, for tenant
// deletion: SCAN with a MATCH pattern built from the escaped namespace (which can match
// no other tenant's keys, whatever the IDs), and UNLINK in batches, so
// Redis is never blocked for long. It scans every node that can hold keys:
// the one server, every master of a cluster, every shard of a Ring. A
// client of another type (a wrapper, an AutoPipeliner) is refused with
// ErrConfig, and a Ring with a shard out with an error, before anything
// is deleted when the Ring knows the shard is out. A memory Keyspace (NewMemory) deletes the tenant's entries from memory. It
// is platform work: ctx must carry tenant.WithPlatformScope's reason, and
// the purge is reported to the auditor. It returns how many keys it
// deleted. It leaves the tenant's generation counter, one key outside the
// namespace (<prefix>:gen:<id>): deleting it would look to every other
// process like a loss of Redis's data.
func (k *Keyspace) Purge(ctx context.Context, id string) (int64, error) {
	// The ID is checked first so that an audit record never names a
	// malformed tenant.
	if err := tenant.ValidateID(id); err != nil {
		return 0, err
	}
	// So is the client: a purge refused for its client is not audited as
	// an access.
	if k.client != nil {
		if err := redisnodes.Check(k.client); err != nil {
			return 0, fmt.Errorf("%w: purge tenant %s: %w", ErrConfig, id, err)
		}
	}
	if _, err := tenant.RequirePlatformScope(ctx, k.auditor, tenant.Event{Package: "cachekey",
		OwnerID: id, Resource: "purge"}); err != nil {
		return 0, err
	}
	total, err := k.store.purge(internal(ctx), id)
	k.gens.Load().forget(id)
	if err != nil {
		return total, fmt.Errorf("cachekey: purge tenant %s: %w", id, err)
	}
	return total, nil
}

// purge scans every node for the tenant's keys with an escaped MATCH
// pattern and unlinks them in batches, on the node that holds them.
func (r redisStore) purge(ctx context.Context, id string) (int64, error) {
	k := r.k
	pattern := escapeGlob(k.namespace(id)) + "*"
	// ForEach scans the nodes at once: the count is shared between
	// goroutines.
	var total atomic.Int64
	err := redisnodes.ForEach(ctx, k.client, func(ctx context.Context, c *redis.Client) error {
		var cursor uint64
		for {
			keys, next, err := c.Scan(ctx, cursor, pattern, purgeBatch).Result()
			if err != nil {
				return err
			}
			if len(keys) > 0 {
				n, err := k.unlink(ctx, c, keys)
				total.Add(n)
				if err != nil {
					return err
				}
			}
			if next == 0 {
				return nil
			}
			cursor = next
		}
	})
	return total.Load(), err
}

// unlink drops keys; without hash tags a cluster's keys may span slots,
// so they go one command each, pipelined.
func (k *Keyspace) unlink(ctx context.Context, c redis.UniversalClient, keys []string) (int64, error) {
	if _, cluster := k.client.(*redis.ClusterClient); !cluster || k.hashTags {
		return c.Unlink(ctx, keys...).Result()
	}
	var total int64
	cmds, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, key := range keys {
			p.Unlink(ctx, key)
		}
		return nil
	})
	for _, cmd := range cmds {
		if ic, ok := cmd.(*redis.IntCmd); ok {
			total += ic.Val()
		}
	}
	return total, err
}
