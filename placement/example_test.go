package placement_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/tenantwall/tenantwall/placement"
	"github.com/tenantwall/tenantwall/tenant"
)

// mapDirectory is a Directory in memory, for the example.
type mapDirectory map[string]string

func (d mapDirectory) Placement(_ context.Context, id string) (string, error) {
	name, ok := d[id]
	if !ok {
		return "", fmt.Errorf("%w: tenant %s", placement.ErrNotPlaced, id)
	}
	return name, nil
}

func (d mapDirectory) Place(_ context.Context, id, name string) error { d[id] = name; return nil }

// A Router refuses a context without a tenant, and a tenant placed in a
// database it does not have: it never falls back to another.
func Example() {
	acme := tenant.Tenant{ID: "3f0c9a52-6a7e-4c4e-9a35-2d1f0e8b7c61"}
	dir := mapDirectory{acme.ID: "big-1"}
	// In production each placement is the application role's *sql.DB on
	// one database and its sqlscope.RLS; this Router has none.
	router, err := placement.New(dir, map[string]placement.Placement{})
	if err != nil {
		panic(err)
	}
	_, err = router.For(context.Background())
	fmt.Println(errors.Is(err, tenant.ErrNoTenant))
	_, err = router.For(tenant.NewContext(context.Background(), acme))
	fmt.Println(errors.Is(err, placement.ErrUnknownPlacement))
	// Output:
	// true
	// true
}
