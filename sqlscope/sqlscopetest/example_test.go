package sqlscopetest_test

import (
	"context"
	"os"
	"testing"

	"github.com/tenantwall/tenantwall/sqlscope"
	"github.com/tenantwall/tenantwall/sqlscope/sqlscopetest"
)

// A service's isolation test: tables created and RLS enabled as the owner,
// queries run as the application role. NewDatabase needs a PostgreSQL
// server and the *testing.T that only go test provides, so this example is
// compiled but not run; the package's own tests run it against a server.
func ExampleNewDatabase() {
	testLeadsAreIsolated := func(t *testing.T) {
		db := sqlscopetest.NewDatabase(t, os.Getenv("TEST_POSTGRES_URL"),
			sqlscopetest.WithRequired(os.Getenv("CI") != ""))
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
		_ = rls // insert as one tenant, read as another, expect nothing
	}
	_ = testLeadsAreIsolated
}
