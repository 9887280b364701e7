package sqlscope_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRLSCallbackThatEndsTheTransaction: fn receives the *sql.Tx and can
// send COMMIT, ROLLBACK or BEGIN as text. The tenant setting is
// transaction-local, so a COMMIT inside fn ends it: every statement fn
// sends afterwards runs without a tenant (and fails on tenant tables),
// and the connection goes back to the pool with no tenant.
func TestRLSCallbackThatEndsTheTransaction(t *testing.T) {
	f := newRLSFixture(t)
	f.insertLead(t, f.ctxA, "lead of A")
	// One connection: the statement after Tx runs on the one Tx used.
	f.app.SetMaxOpenConns(1)
	for _, c := range []struct {
		name string
		end  []string
	}{
		{name: "a COMMIT", end: []string{`COMMIT`}},
		{name: "a commented lower-case commit", end: []string{`/* c */ commit`}},
		{name: "an END", end: []string{`END`}},
		{name: "a ROLLBACK", end: []string{`ROLLBACK`}},
		{name: "a COMMIT AND CHAIN", end: []string{`COMMIT AND CHAIN`}},
		{name: "a COMMIT then a BEGIN", end: []string{`COMMIT`, `BEGIN`}},
		{name: "a COMMIT then a START TRANSACTION", end: []string{`COMMIT`, `START TRANSACTION`}},
		{name: "a ROLLBACK then a BEGIN", end: []string{`ROLLBACK`, `BEGIN ISOLATION LEVEL SERIALIZABLE`}},
	} {
		t.Run(c.name+" inside the callback ends the tenant scope", func(t *testing.T) {
			var setting string
			var readErr error
			seen := 0
			_ = f.rls.Tx(f.ctxA, func(tx *sql.Tx) error {
				for _, q := range c.end {
					if _, err := tx.ExecContext(f.ctxA, q); err != nil {
						return err
					}
				}
				if err := tx.QueryRowContext(f.ctxA, `SELECT coalesce(current_setting('tenantwall.tenant_id', true), '')`).Scan(&setting); err != nil {
					return err
				}
				rows, err := tx.QueryContext(f.ctxA, `SELECT tenant_id FROM leads`)
				if err == nil {
					for rows.Next() {
						seen++
					}
					err = rows.Err()
					rows.Close()
				}
				readErr = err
				return nil
			})
			assert.Empty(t, setting, "the setting must end with the transaction fn ended")
			assert.Error(t, readErr, "a read after the end of the scoped transaction must fail")
			assert.Zero(t, seen, "a read after the end of the scoped transaction saw rows")

			// The pool's only connection comes back with no tenant.
			bg := context.Background()
			require.NoError(t, f.app.QueryRowContext(bg, `SELECT coalesce(current_setting('tenantwall.tenant_id', true), '')`).Scan(&setting))
			assert.Empty(t, setting)
			var n int
			assert.Error(t, f.app.QueryRowContext(bg, `SELECT count(*) FROM leads`).Scan(&n), "a read without a tenant must fail")
			// SAVEPOINT succeeds only inside a transaction block.
			_, err := f.app.ExecContext(bg, `SAVEPOINT probe`)
			assert.Error(t, err, "the connection must not be inside a transaction")
		})
	}
}
