package cachekey_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tenantwall/tenantwall/cachekey"
	"github.com/tenantwall/tenantwall/tenant"
)

// A memory Keyspace gives a single process the same keys and guarantees
// as Redis: entries per tenant, O(1) invalidation, fail closed.
func ExampleNewMemory() {
	ks, err := cachekey.NewMemory(cachekey.WithMaxBytes(16 << 20))
	if err != nil {
		panic(err)
	}
	defer ks.Close()
	dash, _ := cachekey.NewCache[int](ks, 5*time.Minute)

	acme := tenant.NewContext(context.Background(), tenant.Tenant{ID: "3f0c9a52-6a7e-4c4e-9a35-2d1f0e8b7c61", Slug: "acme"})
	count := func(n int) func(context.Context) (int, error) {
		return func(context.Context) (int, error) { fmt.Println("loading", n); return n, nil }
	}
	v, _ := dash.Get(acme, []string{"leads"}, count(3))
	fmt.Println(v)
	v, _ = dash.Get(acme, []string{"leads"}, count(99)) // a hit: the loader does not run
	fmt.Println(v)
	_ = ks.Invalidate(acme) // the tenant's data changed
	v, _ = dash.Get(acme, []string{"leads"}, count(4))
	fmt.Println(v)

	key, _ := ks.Key(acme, "leads")
	fmt.Println(key)
	_, err = dash.Get(context.Background(), []string{"leads"}, count(0))
	fmt.Println(errors.Is(err, tenant.ErrNoTenant))
	// Output:
	// loading 3
	// 3
	// 3
	// loading 4
	// 4
	// tw:3f0c9a52-6a7e-4c4e-9a35-2d1f0e8b7c61:e0:g1:leads
	// true
}
