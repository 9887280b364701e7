package pgxscope_test

import (
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTxInsideATransactionIsRefused: a scoped transaction cannot begin
// inside a caller's pgx.Tx (its COMMIT would end the caller's), and the
// refusal leaves the caller's transaction open and intact.
func TestTxInsideATransactionIsRefused(t *testing.T) {
	f := newFixture(t, 1)
	outer, err := f.pool.Begin(f.ctxA)
	require.NoError(t, err)
	defer outer.Rollback(f.ctxA)
	called := false
	err = f.scope.Tx(f.ctxA, outer, func(pgx.Tx) error { called = true; return nil })
	require.Error(t, err)
	assert.False(t, called)
	require.NoError(t, outer.QueryRow(f.ctxA, `SELECT 1`).Scan(new(int)), "the caller's transaction is still usable")
	assert.Equal(t, byte('T'), outer.Conn().PgConn().TxStatus(), "the caller's transaction is still open")
	require.NoError(t, outer.Rollback(f.ctxA))
}
