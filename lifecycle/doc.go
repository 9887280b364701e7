// Package lifecycle takes a tenant through the end of its life: export
// one tenant into a verifiable archive, import it into the same or another
// instance (restore, or a move), and delete it from every store, in two
// steps, with a receipt and a verification that nothing of it is left.
//
// A Manager is built over the stores a service already has: the tenant
// registry (tenant.Store), the database of the tenant tables, and, as
// options, the blob bucket, the cache (*cachekey.Keyspace), the session
// store (session.Store), Redis for the verification, and any other store
// as a RemoverFunc (credentials.Vault.DeleteTenant, which destroys the
// tenant's data key; jwtclaims.KeySet.RemoveTenant). It imports none of
// those packages: each satisfies a small interface here.
//
// # Tables
//
// The tenant tables are found in the catalog, never listed by hand: every
// table with a tenant_id column in the schemas on the search path
// (PostgreSQL) or in the database (SQLite). They are exported and imported
// parents first (a table after those its foreign keys reference) and
// deleted children first.
//
// # Export and import
//
// Export writes a tar stream (see Format): tenant.json, the rows of each
// table as JSON lines in parts of bounded size, the tenant's objects, and a
// manifest with row counts and the SHA-256 of every entry. It reads in one
// snapshot in which, on PostgreSQL, the row level security setting holds
// the tenant (and every statement also filters on tenant_id), through COPY
// with pgx's driver: it can never include another tenant's row, and its
// memory does not grow with the tenant. Credentials are not exported.
//
// Import verifies every checksum before writing, refuses a tenant that
// exists on the target, checks every row for the tenant's ID, the target's
// columns and foreign keys that stay within the tenant, keeps IDs, and
// removes what it wrote when anything fails.
//
// # Archive keys
//
// Checksums show an archive intact, not who wrote it: anyone holding one
// can edit it and write the checksums again. With WithArchiveKeys, Export
// signs the manifest (HMAC-SHA256 under a platform key; the manifest
// holds every other entry's SHA-256) and Import checks that signature
// first, refusing a missing or wrong one with ErrSignature before it
// decodes any entry. Only then are the archive's claims registered as
// they are: the tenant's status and its custom domains' (a move keeps
// them serving). Without a key Import cannot tell an edited archive from
// another, and registers the tenant suspended and its domains pending
// (removed ones stay removed): an operator activates the tenant, and each
// domain serves again only after its ownership is proven on the target.
// Give every instance that moves tenants between them the same keys; to
// rotate, put the new key first and keep the old ones after it.
// WithDomainPolicy makes Import refuse, with ErrDomainPolicy and before
// writing anything, an archive naming a host the application's own
// domain rule refuses, signed or not.
//
// # Deletion
//
// Schedule suspends the tenant (resolve refuses it at once) and records
// when it may go; Delete, after the grace period or on confirmation,
// removes it store by store and returns a Receipt, then runs Verify: a
// scan of every table (in the schemas on PostgreSQL's search path), the
// Redis key space (SCAN on every node that can hold keys: the one server,
// every master of a cluster, every shard of a Ring) and the bucket for
// the tenant's ID and slug. WithRedis refuses a client of another type,
// through which a SCAN may reach one node of several.
//
// # Security
//
// Every method that acts on a tenant by ID is platform work: ctx must
// carry tenant.WithPlatformScope's reason, and each use is reported to the
// auditor; Import checks the scope before it reads the archive. Import's
// row checks make any archive, authenticated or not, unable to write into
// another tenant. An archive key adds that what is imported is what an
// Export with the key wrote, and is what lets Import take the archive's
// statuses: its active custom domains serve at once, with no new proof
// of ownership on the target (the signature vouches for who exported
// them, not that the tenant still owns them). A signature carries no
// time: an old signed archive keeps the domains it had then (re-verify
// them after restoring one). An unsigned archive keeps its tenant ID, and
// its domains, registered pending, hold their hosts against other
// tenants' claims until an operator removes them. Archives are not
// encrypted: keep them, and the keys, where only operators can read them.
//
// # Errors
//
// Errors wrap the sentinels in errors.go: ErrArchive (with ErrSignature
// for an archive that the archive keys do not authenticate),
// ErrForeignRow, ErrSchema, ErrDomainPolicy and ErrExists from Import; ErrNotSuspended and ErrGracePeriod
// from Delete; ErrSurvived from a verification that found something;
// ErrConfig from New.
//
// # Testing
//
// The tests run on SQLite and on PostgreSQL under row level security as an
// application role, with Redis (and a deletion on SQLite with a Redis
// Ring of three shards), and fail when a row, key or object of a deleted
// tenant survives or is missing from an export.
package lifecycle
