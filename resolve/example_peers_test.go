package resolve_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/tenantwall/tenantwall/resolve"
	"github.com/tenantwall/tenantwall/tenant"
)

// localPeers stands in for the Redis transport (*cachekey.Topic) between
// two Resolvers of one process: it hands every message to every listener.
type localPeers struct{ listeners []func(string) }

func (p *localPeers) Publish(_ context.Context, msg string) error {
	for _, apply := range p.listeners {
		apply(msg)
	}
	return nil
}

func (p *localPeers) Listen(apply func(string), _ func()) {
	p.listeners = append(p.listeners, apply)
}

// Two instances share one tenant store; the first suspends a tenant and
// invalidates it, and the second, which had the tenant cached, refuses it
// at once. In production the Peers is a cachekey.Topic on the Redis the
// instances share: topic, err := keyspace.Topic("resolve").
func ExampleWithPeers() {
	ctx := context.Background()
	store := tenant.NewMemStore()
	acme := tenant.Tenant{ID: "3f0c9a52-6a7e-4c4e-9a35-2d1f0e8b7c61", Slug: "acme", Name: "Acme", Status: tenant.StatusActive}
	_ = store.Create(ctx, acme)

	peers := &localPeers{}
	one, _ := resolve.New(store, resolve.WithBaseDomain("app.example.com"), resolve.WithPeers(peers))
	two, _ := resolve.New(store, resolve.WithBaseDomain("app.example.com"), resolve.WithPeers(peers))
	_, err := two.Resolve(ctx, "acme.app.example.com") // now cached by the second instance
	fmt.Println("before:", err)

	acme.Status = tenant.StatusSuspended
	_ = store.Update(ctx, acme)
	if err := one.InvalidateTenant(acme.ID); err != nil {
		fmt.Println("not shared:", err) // the others follow within their cache TTL
	}
	_, err = two.Resolve(ctx, "acme.app.example.com")
	fmt.Println("after:", errors.Is(err, resolve.ErrSuspended))
	// Output:
	// before: <nil>
	// after: true
}
