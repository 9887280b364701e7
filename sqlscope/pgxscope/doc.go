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
// The tenant is set by "select set_config($1, $2, true)": the setting name
// and the tenant ID are bound parameters, and the setting ends with the
// transaction (the batch's implicit one, or Tx's). Written as a select
// list it is the cheapest statement that binds them (BENCHMARKS.md).
//
// Units gives each HTTP request one unit of work on a pgx pool:
// Units.Middleware puts a Unit in the request's context whose first
// statement begins a transaction with BEGIN and set_config in one round
// trip; the authentication lookup and the handler's queries then share
// it, and it commits before the response status is sent (a write that
// fails to commit is answered 500, never 2xx; an error status or a panic
// rolls back), with sqlscope.Units' rule and errors
// (sqlscope.ErrUnitTenant, sqlscope.ErrUnitEnded, tenant.ErrNoTenant).
//
// For one unit of work per HTTP request on database/sql, Stdlib is
// sqlscope.Units' ConnBeginner for pgx's database/sql driver: each
// request's transaction begins with BEGIN and set_config in one round
// trip, where database/sql needs two:
//
//	units, err := sqlscope.NewUnits(db, sqlscope.WithRLS(rls), sqlscope.WithConnBeginner(pgxscope.Stdlib{}))
//
// Scope.SchemaTx is the schema-per-tenant counterpart of Tx: search_path
// is the schema of the context tenant's ID (sqlscope.Schemas), never of
// its slug.
//
// Without a tenant in the context each returns tenant.ErrNoTenant before
// anything is sent. Tables must be isolated with sqlscope.EnableRLS.
//
// New takes no pool, so a Scope checks the role on first use: before the
// first Tx or SendBatch through a *pgxpool.Pool, or through a connection
// (*pgx.Conn, or a pgx.Tx or *pgxpool.Conn on it), it runs
// sqlscope's role check there and refuses, with sqlscope.ErrPrivilegedRole,
// a role that row level security does not bind (superuser, BYPASSRLS,
// CREATEROLE, owner of a tenant table, a member of such a role, or a role
// that reaches the server's files or programs; see sqlscope.NewRLS). A
// pass is remembered per pool (for as long as the pool lives) or per
// connection (in its pgconn CustomData), so only the first use costs a
// round trip more; a refusal is not remembered. A Batcher of another type
// has nowhere to remember a pass and is refused with ErrBatcher. WithPrivilegedRole(reason) turns the check
// off for tools that must run as such a role, and New reports the reason
// to the auditor (WithAuditor). SchemaTx does not rely on row level
// security and does not check.
//
// # Security
//
// The tenant setting is transaction-local, so it lives exactly as long as
// the transaction it was set in. What the application's statements do to
// that transaction is judged by the transaction status PostgreSQL reports
// at the end of every round trip ('I' idle, 'T' in a transaction, 'E' in a
// failed one), never by their text — no spelling of BEGIN, comment or
// statement order gets past it, and checking costs no round trip:
//
//   - A batch sent outside a transaction that leaves one open or failed is
//     rolled back when its results are closed, taking the setting with it,
//     and Close returns ErrOpenTransaction. If the rollback fails the
//     connection is closed; a pool then destroys it instead of handing it
//     out again. No later statement on that connection runs with the
//     tenant.
//   - A batch inside a caller's transaction, or a Tx or SchemaTx callback,
//     that ends the transaction (COMMIT, ROLLBACK or END as text) ends the
//     setting too: what runs afterwards has no tenant, so it fails on
//     tenant tables. SendBatch's Close, Tx and SchemaTx return
//     ErrTransactionEnded. Statements (a batch inside a caller's
//     transaction, or a callback) that end the transaction and begin
//     another leave a new transaction without the tenant: the status is
//     'T' again, so nothing is reported and Tx and SchemaTx commit it.
//     Under row level security its statements on tenant tables fail;
//     under SchemaTx its unqualified names resolve in the session's
//     search_path (public by default), which no tenant owns, and what it
//     writes there is committed (tested).
//
// SendBatch accepts only Batchers whose connection it can read the status
// of (*pgxpool.Pool, *pgx.Conn, pgx.Tx, *pgxpool.Conn); any other is
// refused with ErrBatcher before anything is sent.
//
// # PgBouncer
//
// Scopes work behind PgBouncer in transaction pooling mode: the setting
// is transaction-local, and BEGIN, set_config and the statements of a Tx
// or SendBatch travel within one transaction, so on one server connection
// (tested with more clients than server connections, every row read
// checked). PgBouncer 1.18 has no prepared-statement support, so set
// default_query_exec_mode in the pool's URL to exec, simple_protocol,
// describe_exec or cache_describe; pgx's default, cache_statement, fails
// as soon as two clients share a server connection ("prepared statement
// … already exists"; tested). See sqlscope's package doc for what else
// breaks under transaction pooling.
//
// # Errors
//
// ErrOpenTransaction, ErrTransactionEnded, ErrBatcher and
// ErrStatementCache, with tenant.ErrNoTenant and sqlscope's errors; test
// with errors.Is.
package pgxscope
