// Package cachekey keeps tenants apart in Redis: keys that carry the
// tenant's immutable ID in a segment no part can forge, O(1) invalidation
// of one tenant's entries, a purge for tenant deletion, a read-through
// cache, and a go-redis hook that refuses any command reaching outside the
// context tenant's namespace. For a single process without Redis,
// NewMemory gives the same keys, generations and cache in memory.
//
//	ks, _ := cachekey.New(rdb)                       // redis.UniversalClient
//	guard, _ := ks.Guard()                           // fail closed
//	rdb.AddHook(guard)
//	key, _ := ks.Key(ctx, "dashboard", "overview", userID, filter)
//	_ = ks.Invalidate(ctx)                           // drop the tenant's entries: one INCR
//
// # Key layout
//
//	tw:<tenant ID>:e<epoch>:g<generation>:<part>:<part>…
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
// Staying fresh costs in proportion to the invalidations, not to the
// tenants a process knows. Every bump is also appended to an invalidation
// log in Redis (a stream, "<prefix>:{<prefix>}:log", each entry numbered
// by a counter written in the same script, trimmed to about 10,000
// entries). Each refresh interval a process reads the epoch, the counter
// and the entries after the last one it applied: three commands in one
// round trip, idle or not, whatever the number of tenants. The bound: a
// bump whose Invalidate returned nil reaches every live process within
// one refresh interval plus a round trip, pub/sub or not. When the entries
// a process needs are gone (it fell more than the log's length behind,
// or Redis lost the log) it re-reads every cached generation once, in
// pipelines of 1,000, and follows the log again. On a single server the
// INCR and its log entry are one script, so they happen together. On a
// cluster or a Ring (different nodes) the entry is written after the INCR: if it
// cannot be, the invalidation stays pending (see below) and is retried
// whole, so every acknowledged bump is in the log; an Invalidate
// interrupted between the two (its process died) may reach only the
// processes that read the tenant's generation afresh.
//
// A Topic carries other invalidations the same way (pub/sub, then the
// log): resolve's cache invalidations, for instance, through
// resolve.WithPeers. A process that cannot know what it missed (it just
// started, fell behind, or Redis lost data) is told so, and drops what
// the topic protects.
//
// # Redis Cluster and Ring
//
// New takes any redis.UniversalClient; on a *redis.ClusterClient the
// invalidation messages go by sharded pub/sub (SPUBLISH and SSUBSCRIBE,
// Redis 7), which reach only the channel's shard rather than every node.
// On a cluster without sharded pub/sub the messages fail (logged) and the
// log alone spreads bumps, within the refresh interval. The log and its
// counter share a hash tag ({<prefix>}), so their script runs on one node;
// the epoch key and each generation counter live in slots of their own,
// and are read in pipelines that go-redis splits by node. Purge scans
// every primary (ForEachMaster).
//
// On a *redis.Ring each key lives on the shard its name (or hash tag)
// hashes to; a bump is then a pipeline, as on a cluster, so that the
// generation is written where it is read, and Purge scans every shard
// (ForEachShard). A Ring with a shard out makes Purge fail: the keys on
// that shard come back with it. Purge refuses a client of any other type
// (a wrapper, go-redis's AutoPipeliner) with ErrConfig: a SCAN through it
// may reach one node of several.
//
// What a mode allows across keys: without WithHashTags a tenant's keys
// spread over the slots (and the nodes), so a command or MULTI/EXEC
// transaction naming two of them fails with CROSSSLOT unless they happen
// to share a slot; use one key per command, or pipelines (which go-redis
// splits by node). With WithHashTags every key of a tenant is in one
// slot: multi-key commands (MGET, MSET, SUNIONSTORE, BITOP, COPY, RENAME
// …), MULTI/EXEC transactions and scripts over one tenant's keys work,
// and a whole tenant lives on one node. In neither mode can a command
// span two tenants (the Guard refuses it anyway), and Redis Cluster
// itself refuses SORT's BY and GET patterns. Tests run the behaviour,
// purge and Guard suites on a three-primary cluster in both modes.
//
// # When Redis loses data
//
// Generations are only as good as the data that produced them. A Redis
// restarted without persistence, flushed, or failed over to a replica
// that lags counts them from a lower value again, while processes still
// hold the higher ones. So a Redis Keyspace keeps an epoch, a random token
// under "<prefix>:epoch" written into every key, and reads it with every
// generation read, bump and refresh. The epoch key missing or malformed, a
// generation lower than one already seen under the same epoch, or an
// epoch this process has left coming back, or the invalidation log's
// counter going down, all mean Redis lost writes:
// a new random epoch replaces it (atomically, one script), and every
// process that reads an epoch other than its own drops its whole
// generation cache and adopts it. Every key written before is then
// unreachable, for every tenant, and generations may start low again
// without reviving anything. The process that notices (an Invalidate, a
// first read, its refresher) switches at once and tells the others
// through pub/sub; the others switch within the refresh interval at the
// latest. Key still makes no round trip.
//
// Invalidate returns an error when the bump (or its log entry) cannot
// reach Redis, and keeps it pending: until a retry succeeds (on the tenant's next Key, and from
// the refresher every interval) this process uses no generation of the
// tenant, so Key fails and a Cache loads without caching. Other
// processes see the invalidation once the retry reaches Redis. Losses no
// live process can notice stay undetectable: a lagging replica that lost
// an invalidation while every process that saw it has since restarted.
// The generation counter lives outside the tenant's namespace
// (<prefix>:gen:<tenant ID>): the tenant's own commands cannot reset it,
// and Purge leaves it, so neither is ever taken for a loss.
//
// Purge and InvalidateTenant
// name a tenant by ID, so they are platform work: ctx must carry
// tenant.WithPlatformScope's reason (checked and audited by
// tenant.RequirePlatformScope), else they fail with tenant.ErrNoTenant.
//
// # Embedded mode
//
// NewMemory returns a Keyspace whose generations and Cache entries live in
// the process, for tests, development and one-binary installs; Cache,
// Key, Invalidate, InvalidateTenant and Purge work on it unchanged, with
// the same keys as New with the default options, except for the epoch,
// which is always 0: its generations and entries are lost together, so
// it needs none. Entries expire after
// their TTL and are bounded in bytes (WithMaxBytes, default 64 MiB; the
// oldest go first). Its generations are bounded like a Redis Keyspace's
// (DefaultMaxTenants); a tenant dropped from them comes back at a
// generation no lower than any it had, so invalidated entries never
// return. Invalidations reach only this process, and it has no Guard
// (there is no Redis client to guard).
//
// # Security
//
// No tenant in the context → tenant.ErrNoTenant, never a shared key, on
// either store: the tenant checks and the key layout live in the
// Keyspace, and the store (Redis or memory) only keeps what the Keyspace
// built.
//
// The Guard decides by allow-list, from one table of every Redis 7 command
// and subcommand (commands.go). For a keyed command the table holds the
// command's Redis key specifications, destinations included (the
// STORE/STOREDIST of GEORADIUS, SORT … STORE, every *STORE command, BITOP's
// destination, COPY, RENAME, SMOVE, LMOVE…), counted keys (EVAL, LMPOP,
// ZMPOP, ZUNIONSTORE, SINTERCARD…) and keys after a keyword (XREAD and
// XREADGROUP STREAMS, MIGRATE KEYS), and every key must be inside the
// context tenant's namespace (or explicitly global). Keys after a keyword
// are checked after each occurrence of it, so repeating the keyword cannot
// hide one. SORT's BY and GET patterns must lie in the namespace too.
// Keyless commands are allowed only where they show nothing of any tenant
// (PING, ECHO, HELLO, AUTH, CLIENT SETNAME, MULTI/EXEC…); PUBLISH, SPUBLISH,
// INFO, LASTSAVE and ROLE only when the application names them in
// WithKeylessCommands, and even then PUBLISH and SPUBLISH refuse a channel
// under the Keyspace's prefix outside the tenant's namespace (the
// Keyspace's own invalidation channel is there). Keyspace-wide and administrative commands (KEYS,
// SCAN, FLUSHDB, RANDOMKEY, DBSIZE, SWAPDB, SELECT, CONFIG, DEBUG, CLIENT
// LIST/KILL, CLIENT TRACKING BCAST/PREFIX/REDIRECT, MONITOR, SUBSCRIBE and
// its kin, PUBSUB, CLUSTER, FUNCTION…) are always refused, and so is
// anything not in the table. Tests compare the table with the server's
// COMMAND INFO, COMMAND DOCS and COMMAND GETKEYS.
//
// Scripts and functions (EVAL, EVAL_RO, EVALSHA, EVALSHA_RO, FCALL,
// FCALL_RO, SCRIPT LOAD/EXISTS) run only when registered with
// WithTrustedScripts (by the SHA1 of the body, so Script.Run's EVALSHA then
// EVAL works) or WithTrustedFunctions; their declared keys are then
// checked, and an argument inside another tenant's namespace is refused.
// The Guard cannot see what a script does with its arguments: a trusted
// script is trusted to touch only KEYS[].
//
// The Guard reads every argument as the text go-redis sends: string,
// []byte, *string, net.IP, time.Time, encoding.BinaryMarshaler and nil
// (sent as ""), so a keyword, key or pattern in any of these forms is
// seen as Redis sees it. Numbers (which spell no keyword and no
// namespaced key) are passed over where it looks for keywords; a key, a
// key count or a script that is not text, and any argument it cannot read
// where it looks, refuse the command.
//
// Pipelines and MULTI/EXEC transactions are checked command by command;
// one refused command refuses all of them before anything is sent. Every
// argument of a refused command that lies in another tenant's namespace is
// reported to the auditor. go-redis's PubSub does not pass through hooks.
// The read-through cache degrades to the loader when Redis fails: slower,
// never another tenant's entry.
//
// # Errors
//
// ErrNoParts, ErrForeignKey, ErrCommand, ErrUntrustedScript (which also
// wraps ErrCommand), ErrEpoch and ErrConfig (also from Guard on a memory Keyspace);
// test with errors.Is.
//
// # Testing
//
// The tests run against a real Redis (TENANTWALL_REDIS_URL) with random
// tenant IDs and never flush a database, and again on a Redis Cluster of
// three primaries that TestRedisCluster starts (or the one
// TENANTWALL_REDIS_CLUSTER_ADDRS names); Purge, Forget and a bump read by
// another process run on a Ring of three shards; pub/sub messages are dropped on
// purpose to check that the log repairs them within the interval; FuzzKey checks injectivity and
// the tenant segment, FuzzGuardAgainstServer that whatever the Guard lets
// through has only the tenant's keys by the server's COMMAND GETKEYS.
// TestBackends runs the same behaviour tests (isolation, invalidation,
// expiry, purge, fail-closed, concurrency) against the Redis and the
// memory store. The data-loss tests start their own redis-server (on PATH)
// on a free port, without persistence, and restart it empty, restore an
// older snapshot, or stall it (SIGSTOP) between writes and reads.
package cachekey
