package tenant_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/tenantwall/tenantwall/tenant"
)

func Example() {
	store := tenant.NewMemStore()
	acme := tenant.Tenant{
		ID:     "3f0c9a52-6a7e-4c4e-9a35-2d1f0e8b7c61",
		Slug:   "acme",
		Name:   "Acme Corp",
		Status: tenant.StatusActive,
	}
	if err := store.Create(context.Background(), acme); err != nil {
		fmt.Println(err)
		return
	}

	// Middleware puts the tenant in the request context...
	ctx := tenant.NewContext(context.Background(), acme)

	// ...and code below reads it back, failing closed without one.
	id, err := tenant.IDFromContext(ctx)
	fmt.Println(id, err)
	_, err = tenant.IDFromContext(context.Background())
	fmt.Println(errors.Is(err, tenant.ErrNoTenant))
	// Output:
	// 3f0c9a52-6a7e-4c4e-9a35-2d1f0e8b7c61 <nil>
	// true
}

func ExampleValidateSlug() {
	for _, s := range []string{"acme", "Acme", "-acme", "www", "xn--acme"} {
		err := tenant.ValidateSlug(s)
		fmt.Printf("%-9s %v reserved=%v\n", s, err, errors.Is(err, tenant.ErrReservedSlug))
	}
	// Output:
	// acme      <nil> reserved=false
	// Acme      tenant: invalid slug "Acme": uppercase letter at byte 0 (slugs are lowercase) reserved=false
	// -acme     tenant: invalid slug "-acme": leading or trailing hyphen reserved=false
	// www       tenant: invalid slug "www": tenant: reserved slug reserved=true
	// xn--acme  tenant: invalid slug "xn--acme": the xn-- prefix is for IDNA labels reserved=false
}
