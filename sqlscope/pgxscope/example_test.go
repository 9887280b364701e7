package pgxscope_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log"
	"net/http"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"

	"github.com/tenantwall/tenantwall/sqlscope"
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

// One scoped transaction per request on pgx's database/sql driver, begun
// with BEGIN and set_config in one round trip. Without a PostgreSQL server
// at the URL this example stops at NewRLS's role check.
func ExampleStdlib() {
	db, err := sql.Open("pgx", "postgres://app@127.0.0.1:5432/crm")
	if err != nil {
		log.Fatal(err)
	}
	rls, err := sqlscope.NewRLS(context.Background(), db)
	if err != nil {
		log.Fatal(err)
	}
	units, err := sqlscope.NewUnits(db, sqlscope.WithRLS(rls), sqlscope.WithConnBeginner(pgxscope.Stdlib{}))
	if err != nil {
		log.Fatal(err)
	}
	api := http.NewServeMux()
	api.HandleFunc("GET /leads/count", func(w http.ResponseWriter, r *http.Request) {
		u, _ := sqlscope.UnitFromContext(r.Context())
		var n int
		if err := u.QueryRowContext(r.Context(), `SELECT count(*) FROM leads`).Scan(&n); err != nil {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, n)
	})
	// After the middleware that puts the tenant in the context
	// (resolve.Middleware).
	log.Fatal(http.ListenAndServe("127.0.0.1:8080", units.Middleware(api)))
}
