package jwtclaims_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/tenantwall/tenantwall/jwtclaims"
	"github.com/tenantwall/tenantwall/tenant"
)

func Example() {
	acme := tenant.Tenant{ID: "3f0c9a52-6a7e-4c4e-9a35-2d1f0e8b7c61", Slug: "acme"}
	globex := tenant.Tenant{ID: "5e2d8c77-1b0a-4f6e-9c3d-7a8b9c0d1e02", Slug: "globex"}
	keys := jwtclaims.NewKeySet()
	_ = keys.Add(acme.ID, jwtclaims.NewEdDSAKey("acme-1"))
	_ = keys.Add(globex.ID, jwtclaims.NewEdDSAKey("globex-1"))
	auth, _ := jwtclaims.New(keys, "https://crm.example.com", "crm")

	onAcme := tenant.NewContext(context.Background(), acme)
	access, _, _ := auth.Issue(onAcme, "user-42")

	claims, err := auth.Validate(onAcme, access, jwtclaims.Access)
	fmt.Println(claims.Subject, claims.TenantSlug, err)

	onGlobex := tenant.NewContext(context.Background(), globex)
	_, err = auth.Validate(onGlobex, access, jwtclaims.Access)
	fmt.Println(errors.Is(err, jwtclaims.ErrUnknownKey))
	// Output:
	// user-42 acme <nil>
	// true
}

// A cached Authority answers a token it has seen without checking its
// signature again, and still refuses it at once when its key is removed.
func ExampleWithVerifiedCache() {
	acme := tenant.Tenant{ID: "3f0c9a52-6a7e-4c4e-9a35-2d1f0e8b7c61", Slug: "acme"}
	keys := jwtclaims.NewKeySet()
	_ = keys.Add(acme.ID, jwtclaims.NewEdDSAKey("acme-1"))
	auth, err := jwtclaims.New(keys, "https://crm.example.com", "crm", jwtclaims.WithVerifiedCache(10_000))
	if err != nil {
		panic(err)
	}

	onAcme := tenant.NewContext(context.Background(), acme)
	access, _, _ := auth.Issue(onAcme, "user-42")
	for range 2 { // verified in full, then remembered
		claims, err := auth.Validate(onAcme, access, jwtclaims.Access)
		fmt.Println(claims.Subject, err)
	}

	keys.Remove(acme.ID, "acme-1") // revoked: the next request is refused
	_, err = auth.Validate(onAcme, access, jwtclaims.Access)
	fmt.Println(errors.Is(err, jwtclaims.ErrUnknownKey))
	// Output:
	// user-42 <nil>
	// user-42 <nil>
	// true
}
