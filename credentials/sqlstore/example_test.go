package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"

	"gocloud.dev/secrets/localsecrets"

	"github.com/tenantwall/tenantwall/credentials"
	"github.com/tenantwall/tenantwall/credentials/sqlstore"
	"github.com/tenantwall/tenantwall/tenant"
)

func Example() {
	dir, _ := os.MkdirTemp("", "credentials-example")
	defer os.RemoveAll(dir)
	db, _ := sql.Open("sqlite", filepath.Join(dir, "app.db"))
	defer db.Close()
	store, err := sqlstore.New(db, sqlstore.SQLite) // sqlstore.Postgres on PostgreSQL
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	_ = store.Migrate(ctx)

	key, _ := localsecrets.NewRandomKey()
	vault, _ := credentials.New(localsecrets.NewKeeper(key), store)
	acme := tenant.NewContext(ctx, tenant.Tenant{ID: "3f0c9a52-6a7e-4c4e-9a35-2d1f0e8b7c61", Slug: "acme"})
	v1, _ := vault.Set(acme, "openai", "sk-acme-1")
	v2, _ := vault.Set(acme, "openai", "sk-acme-2") // rotation adds a version
	s, _ := vault.Get(acme, "openai")
	fmt.Println(v1, v2, s.Version, s.Reveal())

	_, err = sqlstore.New(db, 0)
	fmt.Println(err)
	// Output:
	// 1 2 2 sk-acme-2
	// credentials: invalid configuration: sqlstore dialect Dialect(0) is not supported (want sqlstore.Postgres or sqlstore.SQLite)
}
