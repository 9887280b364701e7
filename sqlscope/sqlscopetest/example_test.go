package sqlscopetest_test

import (
	"context"
	"database/sql"
	"os"
	"testing"

	"github.com/tenantwall/tenantwall/sqlscope"
	"github.com/tenantwall/tenantwall/sqlscope/sqlscopetest"
	"github.com/tenantwall/tenantwall/tenant"
)

// A service's isolation test: tables created and RLS enabled as the owner,
// queries run as the application role. NewDatabase needs a PostgreSQL
// server and the *testing.T that only go test provides, so this example is
// compiled but not run; the package's own tests run it against a server.
func ExampleNewDatabase() {
	testLeadsAreIsolated := func(t *testing.T) {
		db := sqlscopetest.NewDatabase(t, os.Getenv("TENANTWALL_POSTGRES_URL"),
			sqlscopetest.WithRequired(os.Getenv("TENANTWALL_REQUIRE_SERVICES") == "1"))
		ctx := context.Background()
		if _, err := db.Owner.ExecContext(ctx, `CREATE TABLE leads (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, tenant_id text NOT NULL, name text NOT NULL)`); err != nil {
			t.Fatal(err)
		}
		if err := sqlscope.EnableRLS(ctx, db.Owner, "", "leads"); err != nil {
			t.Fatal(err)
		}
		rls, err := sqlscope.NewRLS(ctx, db.App)
		if err != nil {
			t.Fatal(err)
		}
		acme := tenant.NewContext(ctx, tenant.Tenant{ID: tenant.NewID()})
		globex := tenant.NewContext(ctx, tenant.Tenant{ID: tenant.NewID()})
		if err := rls.Tx(acme, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(acme, `INSERT INTO leads (name) VALUES ('acme''s lead')`)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := rls.Tx(globex, func(tx *sql.Tx) error {
			return tx.QueryRowContext(globex, `SELECT count(*) FROM leads`).Scan(&n)
		}); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("globex sees %d of acme's leads", n)
		}
	}
	_ = testLeadsAreIsolated
}
