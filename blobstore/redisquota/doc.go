// Package redisquota keeps blobstore's per-tenant storage use in Redis, so
// that every process sharing a bucket counts against one quota:
//
//	l, _ := redisquota.New(redisClient)
//	store, _ := blobstore.New(bucket, blobstore.WithQuota(quotaOf), blobstore.WithLedger(l))
//
// # Atomicity
//
// Each Ledger operation is one Lua script (or one command) on the
// tenant's keys, so checking the quota and reserving against it is one
// atomic step for all processes. The three keys of a tenant share the hash
// tag {<tenant ID>} and so one Redis Cluster slot.
//
// # Keys
//
// Keys are built from the tenant ID only, after tenant.ValidateID (a
// canonical lowercase UUID: no '{', '}', ':', '*' or blank), and
// reservation IDs must be lowercase hex; anything else is refused before a
// command is sent, so no input can name another tenant's keys. A
// reservation is stored under its tenant's keys: another tenant cannot
// commit or release it.
//
// # Crashes and lost data
//
// A reservation expires a lease (WithLease, default DefaultLease) after
// the last chunk its upload reserved, by the Redis server's clock; the
// next reservation of the tenant reaps it. So a crashed process holds
// quota for at most the lease, and an upload idle longer than the lease
// fails at its next chunk. If Redis loses the data (restart without
// persistence, failover to a replica that had not received it, eviction),
// the tenant has no count and the next upload recounts from the bucket
// before anything is reserved; uploads whose reservations were lost fail
// at their next chunk, and a commit without its reservation drops the
// count again. The remaining window: an upload that had reserved its last
// chunk before the loss and commits after the recount listed the bucket
// without it is not counted until the next recount (which that commit
// triggers), and uploads reserved in between may pass the quota by at
// most what such uploads hold. Keep the keys from eviction (a noeviction
// or volatile-* policy: the count has no TTL). When a tenant is deleted,
// Ledger.DeleteTenant deletes its keys.
//
// Point every process that shares a bucket at the same Redis, and do not
// share a Redis between different buckets holding the same tenant IDs: the
// count would be of another bucket.
package redisquota
