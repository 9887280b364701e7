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
package pgxscope
