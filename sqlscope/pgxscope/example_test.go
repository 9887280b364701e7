package pgxscope_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/tenantwall/tenantwall/sqlscope/pgxscope"
	"github.com/tenantwall/tenantwall/tenant"
)

// Without a tenant in the context nothing is sent: the pool is not even
// touched (here there is none).
func Example() {
	scope, _ := pgxscope.New()
	var pool pgxscope.Batcher // a *pgxpool.Pool in a real service
	err := scope.Tx(context.Background(), pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(context.Background(), `DELETE FROM leads`)
		return err
	})
	fmt.Println(errors.Is(err, tenant.ErrNoTenant))
	// Output: true
}
