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
