// Package pgxscope runs PostgreSQL statements scoped to the context tenant
// natively on pgx (github.com/jackc/pgx/v5): the row level security
// setting of package sqlscope, set with set_config(…, true) as a bound
// parameter, travelling in the same network round trip as BEGIN — so a
// scoped transaction costs no round trip more than an unscoped one.
//
// Two shapes:
//
//   - Scope.Tx runs a function in a transaction on a pool or a connection;
//     BEGIN and set_config are pipelined in one round trip (pgx's
//     Batch.BeginTx), and the function gets pgx's own pgx.Tx.
//   - Scope.SendBatch runs a pgx.Batch in one round trip, with set_config
//     queued first; the batch runs in one implicit transaction (one Sync),
//     so the setting holds for exactly that batch.
//
// Without a tenant in the context both return tenant.ErrNoTenant before
// anything is sent. Tables must be isolated with sqlscope.EnableRLS.
//
// New takes no pool, so a Scope checks the role on first use: before the
// first Tx or SendBatch through a *pgxpool.Pool, or through a connection
// (*pgx.Conn, or a pgx.Tx or *pgxpool.Conn on it), it runs
// sqlscope's role check there and refuses, with sqlscope.ErrPrivilegedRole,
// a role that row level security does not bind (superuser, BYPASSRLS,
// CREATEROLE, owner of a tenant table, or a member of such a role). A
// pass is remembered per pool (for as long as the pool lives) or per
// connection (in its pgconn CustomData), so only the first use costs a
// round trip more; a refusal is not remembered. A Batcher of another type
// is checked on every call. WithPrivilegedRole(reason) turns the check
// off for tools that must run as such a role, and New reports the reason
// to the auditor (WithAuditor). SchemaTx does not rely on row level
// security and does not check.
package pgxscope
