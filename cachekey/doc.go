// Package cachekey keeps tenants apart in Redis: keys that carry the
// tenant's immutable ID in a segment no part can forge, O(1) invalidation
// of one tenant's entries, a purge for tenant deletion, a read-through
// cache, and a go-redis hook that refuses any command reaching outside the
// context tenant's namespace.
//
//	ks, _ := cachekey.New(rdb)                       // redis.UniversalClient
//	rdb.AddHook(ks.Guard())                          // fail closed
//	key, _ := ks.Key(ctx, "dashboard", "overview", userID, filter)
//	_ = ks.Invalidate(ctx)                           // drop the tenant's entries: one INCR
//
// # Key layout
//
//	tw:<tenant ID>:g<generation>:<part>:<part>…
//
// Parts are escaped (':', '%', '{', '}', glob characters and control
// bytes become %XX), so different part lists never give the same key, a
// part can never open another tenant's namespace, add a Redis Cluster hash
// tag, or inject a SCAN pattern. With WithHashTags the ID is written
// {<tenant ID>}: one slot per tenant, which allows multi-key commands and
// scripts over a tenant's keys but puts a whole tenant on one shard.
//
// # Invalidation
//
// Each tenant has a generation, folded into its keys. Invalidate bumps it
// atomically (INCR); entries of older generations are never read again and
// expire by their TTL. Key reads the generation from an in-process cache,
// so the hot path makes no round trip; bumps reach other processes at
// once through pub/sub and, if a message is lost, within the refresh
// interval (WithRefresh, default one second). Purge really deletes a
// tenant's keys with SCAN and UNLINK in batches.
//
// # Security
//
// No tenant in the context → tenant.ErrNoTenant, never a shared key. The
// Guard refuses keyed commands outside the tenant's namespace (pipelines
// included, before anything is sent), commands it cannot check (KEYS,
// SCAN, FLUSHDB, unknown ones) and keyed commands without a tenant, unless
// the key is explicitly global. Cross-tenant keys are reported to the
// auditor. The read-through cache degrades to the loader when Redis fails:
// slower, never another tenant's entry.
//
// # Errors
//
// ErrNoParts, ErrForeignKey, ErrCommand and ErrConfig; test with errors.Is.
//
// # Testing
//
// The tests run against a real Redis (TENANTWALL_REDIS_URL) with random
// tenant IDs and never flush a database; FuzzKey checks injectivity and
// the tenant segment.
package cachekey
