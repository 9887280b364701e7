// Package placement places tenants across databases: small tenants share
// a pooled database, large ones get their own, and each tenant's
// placement is a setting kept beside it in a Directory (SQLDirectory
// keeps it in a table of the catalog database).
//
// A Router holds one Placement (the application role's *sql.DB and its
// sqlscope.RLS) per named database. Router.For gives the scoped handle for
// the context tenant, and Router.Tx runs a transaction scoped to it (row
// level security, sqlscope.RLS.Tx) on its placement's database; the
// handle's PgxTx does the same with pgxscope on the placement's pgx pool,
// and sqlscope's row filter works inside either (sqlscope.NewFilter over
// the *sql.Tx). The
// placement is read from the Directory on every transaction, so every
// process sharing the Directory follows a move at once.
//
// Router.Move moves a tenant to another placement in one operation: its
// transactions are frozen (ErrMoving) while the rows are copied, the copy
// is compared with the source, the Directory is switched and the source
// rows are removed. Other tenants are not affected. It takes no list of
// tables: it finds the tenant tables in both placements' catalogs
// (sqlscope.TenantTables, the tables NewRLS and Audit take for tenant
// tables), copies them parents first, and refuses placements whose tenant
// tables differ, so no table of the tenant is left behind. It is platform
// work: ctx must carry tenant.WithPlatformScope's reason, and each move is
// reported to the Router's auditor (WithAuditor).
//
// # Security
//
// A context without a tenant is refused with tenant.ErrNoTenant, a tenant
// without a placement with ErrNotPlaced, and a placement the Router does
// not know with ErrUnknownPlacement: there is no default database, so a
// tenant is never served from a database that does not hold it. Within a
// placement, isolation is sqlscope's row level security: every
// transaction sets the tenant and the policies restrict rows to it.
//
// Each transaction takes the tenant's move lock in shared mode on its
// placement (pg_try_advisory_xact_lock_shared on a 64-bit hash of
// "tenantwall.placement:" and the ID) and reads the Directory again
// inside the transaction: a move in progress refuses it, and a move that
// finished since For sends it to the new placement. Two tenants whose
// hashes collide (odds about 2⁻⁶⁴ per pair) freeze together during a move.
// This costs one Directory read and one statement per transaction more
// than sqlscope.RLS.Tx alone.
//
// # Errors
//
// ErrNotPlaced, ErrUnknownPlacement, ErrMoving (retry later; answer 503),
// ErrTenantMismatch, ErrSchemaMismatch and ErrCopyMismatch, with
// tenant.ErrNoTenant and sqlscope's errors (sqlscope.ErrForeignKeyCycle
// from a Move whose tenant tables' foreign keys form a cycle); test with
// errors.Is.
//
// # Testing
//
// The tests place tenants on two PostgreSQL clusters, the shared test
// server and one the test starts (testenv.StartPostgresCluster), as a role
// that is neither superuser, owner nor BYPASSRLS, and move a tenant
// between them while another transaction of it is in flight, with tenant
// tables the test's own list does not name (in a schema off the search
// path, and a child whose foreign key cascades), and between placements
// whose tenant tables differ.
package placement
