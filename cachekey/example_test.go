package cachekey_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/tenantwall/tenantwall/cachekey"
	"github.com/tenantwall/tenantwall/tenant"
)

// The guard decides from the command alone, before anything is sent.
func ExampleGuard_Check() {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer rdb.Close()
	ks, _ := cachekey.New(rdb)
	defer ks.Close()
	guard, _ := ks.Guard()

	acme := tenant.NewContext(context.Background(), tenant.Tenant{ID: "3f0c9a52-6a7e-4c4e-9a35-2d1f0e8b7c61", Slug: "acme"})
	own := "tw:3f0c9a52-6a7e-4c4e-9a35-2d1f0e8b7c61:g0:dashboard"
	foreign := "tw:5e2d8c77-1b0a-4f6e-9c3d-7a8b9c0d1e02:g0:dashboard"

	fmt.Println(guard.Check(acme, []any{"get", own}))
	fmt.Println(errors.Is(guard.Check(acme, []any{"get", foreign}), cachekey.ErrForeignKey))
	fmt.Println(errors.Is(guard.Check(acme, []any{"flushdb"}), cachekey.ErrCommand))
	fmt.Println(errors.Is(guard.Check(context.Background(), []any{"get", own}), tenant.ErrNoTenant))
	// Output:
	// <nil>
	// true
	// true
	// true
}
