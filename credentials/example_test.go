package credentials_test

import (
	"context"
	"errors"
	"fmt"

	"gocloud.dev/secrets/localsecrets"

	"github.com/tenantwall/tenantwall/credentials"
	"github.com/tenantwall/tenantwall/tenant"
)

func Example() {
	key, _ := localsecrets.NewRandomKey()
	vault, _ := credentials.New(localsecrets.NewKeeper(key), credentials.NewMemStore())
	acme := tenant.NewContext(context.Background(), tenant.Tenant{ID: "3f0c9a52-6a7e-4c4e-9a35-2d1f0e8b7c61", Slug: "acme"})
	globex := tenant.NewContext(context.Background(), tenant.Tenant{ID: "5e2d8c77-1b0a-4f6e-9c3d-7a8b9c0d1e02", Slug: "globex"})

	_, _ = vault.Set(acme, "openai", "sk-acme-123")
	s, _ := vault.Get(acme, "openai")
	fmt.Println(s, s.Reveal())

	_, err := vault.Get(globex, "openai")
	fmt.Println(errors.Is(err, credentials.ErrNoCredential))
	// Output:
	// [REDACTED] sk-acme-123
	// true
}

// ExampleMemStore shows the contract every Store keeps, which
// credentialstest.RunStoreTests checks: a version is written once, and a
// row a Vault could not have written is refused.
func ExampleMemStore() {
	store := credentials.NewMemStore()
	ctx := context.Background()
	row := credentials.Row{TenantID: "3f0c9a52-6a7e-4c4e-9a35-2d1f0e8b7c61", Provider: "openai", Version: 1, Ciphertext: []byte("c2VhbGVk")}
	fmt.Println(store.Put(ctx, row))
	fmt.Println(errors.Is(store.Put(ctx, row), credentials.ErrVersionExists))

	row.TenantID = "acme"
	err := store.Put(ctx, row)
	fmt.Println(errors.Is(err, credentials.ErrRow), errors.Is(err, tenant.ErrInvalidID))
	_, err = store.Rows(ctx, "3f0c9a52-6a7e-4c4e-9a35-2d1f0e8b7c61", "open%")
	fmt.Println(errors.Is(err, credentials.ErrProvider))
	// Output:
	// <nil>
	// true
	// true true
	// true
}
