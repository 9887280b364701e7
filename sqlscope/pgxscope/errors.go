package pgxscope

import "errors"

// Sentinel errors; test with errors.Is. A missing tenant is
// tenant.ErrNoTenant, returned before anything is sent.
var (
	// ErrOpenTransaction reports a scoped batch, sent outside a
	// transaction, whose statements left a transaction open or failed
	// (BEGIN or START TRANSACTION in any spelling). The transaction has
	// been rolled back, or the connection closed if that failed, so the
	// tenant setting did not survive it; nothing the batch did was kept.
	ErrOpenTransaction = errors.New("pgxscope: the batch left a transaction open; rolled back")

	// ErrTransactionEnded reports statements that ended the transaction
	// the tenant setting lived in (COMMIT, ROLLBACK or END sent as text):
	// a scoped Tx's callback, or a scoped batch inside a caller's
	// transaction. The setting ended with it, so whatever ran afterwards
	// ran without the tenant (and statements on tenant tables failed);
	// what ran before may have been committed.
	ErrTransactionEnded = errors.New("pgxscope: the statements ended the scoped transaction")

	// ErrBatcher reports a Batcher whose transaction status SendBatch
	// cannot read: only *pgxpool.Pool, *pgx.Conn and values with a
	// Conn() *pgx.Conn method (pgx.Tx, *pgxpool.Conn) are accepted.
	ErrBatcher = errors.New("pgxscope: unsupported Batcher")

	// ErrStatementCache reports a connection whose statement-description
	// cache would be shared between tenant schemas.
	ErrStatementCache = errors.New("pgxscope: schema-per-tenant needs QueryExecModeExec, QueryExecModeDescribeExec or QueryExecModeSimpleProtocol")
)
