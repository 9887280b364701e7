package pgxscope

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/tenantwall/tenantwall/sqlscope"
	"github.com/tenantwall/tenantwall/tenant"
)

// SchemaTx runs fn in a transaction whose search_path is the schema of
// the context tenant's ID alone (see sqlscope.Schemas; the slug plays no
// part), set with
// set_config('search_path', …, true) in the round trip of BEGIN.
//
// PostgreSQL re-plans prepared statements when search_path changes, but
// pgx's default modes cache result descriptions per SQL text on the
// connection: a statement prepared against one tenant's schema would be
// decoded with that description under another's. SchemaTx therefore
// refuses (ErrStatementCache) connections whose DefaultQueryExecMode
// caches statements or descriptions; configure the pool with
// QueryExecModeExec or QueryExecModeDescribeExec.
//
// fn must not end the transaction: one that sends COMMIT, ROLLBACK or END
// gets ErrTransactionEnded, but one that then sends BEGIN is not told
// apart (see the package doc), and its later statements run in the
// session's search_path, not the tenant's schema.
func (s *Scope) SchemaTx(ctx context.Context, conn *pgx.Conn, schemas *sqlscope.Schemas, fn func(pgx.Tx) error) error {
	t, ok := tenant.FromContext(ctx)
	if !ok || t.ID == "" {
		return tenant.ErrNoTenant
	}
	switch conn.Config().DefaultQueryExecMode {
	case pgx.QueryExecModeExec, pgx.QueryExecModeDescribeExec, pgx.QueryExecModeSimpleProtocol:
	default:
		return ErrStatementCache
	}
	name, err := schemas.Name(t)
	if err != nil {
		return err
	}
	quoted, _ := sqlscope.QuoteIdent(name)
	b := &pgx.Batch{}
	b.BeginTx(pgx.TxOptions{})
	b.Queue(`select from set_config('search_path', $1, true)`, quoted+", pg_temp")
	return runBatchTx(ctx, conn, b, fn)
}
