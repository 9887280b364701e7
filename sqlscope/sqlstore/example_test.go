package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tenantwall/tenantwall/sqlscope"
	"github.com/tenantwall/tenantwall/sqlscope/sqlstore"
	"github.com/tenantwall/tenantwall/tenant"
)

func Example() {
	dir, _ := os.MkdirTemp("", "sqlstore-example")
	defer os.RemoveAll(dir)
	db, _ := sql.Open("sqlite", filepath.Join(dir, "tenants.db"))
	defer db.Close()
	store, _ := sqlstore.New(db, sqlscope.SQLite)
	ctx := context.Background()
	_ = store.Migrate(ctx)

	acme := tenant.Tenant{ID: "3f0c9a52-6a7e-4c4e-9a35-2d1f0e8b7c61", Slug: "acme", Name: "Acme", Status: tenant.StatusActive}
	_ = store.Create(ctx, acme)
	_ = store.PutDomain(ctx, tenant.Domain{Host: "crm.acme.test", TenantID: acme.ID, Status: tenant.DomainActive})

	t, d, err := store.ByDomain(ctx, "crm.acme.test")
	fmt.Println(t.Slug, d.Status, err)
	// Output: acme active <nil>
}
