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
// is compared with the source, the source rows are removed, and the
// Directory is switched. Other tenants are not affected. It takes no list
// of tables: it finds the tenant tables in both placements' catalogs
// (sqlscope.TenantTables, the tables NewRLS and Audit take for tenant
// tables), copies them parents first, refuses placements whose tenant
// tables differ, and reads both catalogs again before the switch, so no
// table of the tenant is left behind. It is platform work: ctx must carry
// tenant.WithPlatformScope's reason, and each move is reported to the
// Router's auditor (WithAuditor).
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
// Move works as the application role, under the tenant's row level
// security, so what it copies, compares and deletes is the tenant's rows
// only where every policy on a tenant table is the one sqlscope
// generates. It refuses, before copying anything (ErrNotMovable), a
// placement on which sqlscope.Audit finds anything or a tenant table
// carries a restrictive policy (either may hide rows: Move would leave
// them behind), and tenant tables in inheritance that is not partitioning
// (a child's rows would be read twice); it locks the tenant tables
// against DDL for its duration and reads ordinary tables with ONLY. It
// deletes exactly the rows it copied, or fails (ErrCopyMismatch). It does
// not freeze writers that bypass the Router: see Router.Move for what
// such a writer can still make it miss.
//
// # Errors
//
// ErrNotPlaced, ErrUnknownPlacement, ErrMoving (retry later; answer 503),
// ErrTenantMismatch, ErrSchemaMismatch, ErrCopyMismatch and ErrNotMovable, with
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
// path, one named like a temporary schema, and a child whose foreign key
// cascades), between placements whose tenant tables differ, with policies
// that hide rows and with inheritance, and while a migration adds a
// tenant table or a writer outside the Router adds a row.
package placement
