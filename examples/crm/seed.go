package main

import (
	"context"
	"errors"

	"github.com/tenantwall/tenantwall/tenant"
)

// demoTenant describes one seeded tenant. IDs are fixed so that curl
// examples and clients can rely on them.
type demoTenant struct {
	t       tenant.Tenant
	domains []string
}

var demoTenants = []demoTenant{
	{t: tenant.Tenant{
		ID: "0b4c1e9a-6f57-4a3e-8d8f-2f7c5a1d9e01", Slug: "acme", Name: "Acme Corporation", Status: tenant.StatusActive,
		Branding: tenant.Branding{LogoURL: "https://static.acme.test/logo.png", PrimaryColor: "#d9480f"},
	}, domains: []string{"crm.acme.test"}},
	{t: tenant.Tenant{
		ID: "5e2d8c77-1b0a-4f6e-9c3d-7a8b9c0d1e02", Slug: "globex", Name: "Globex Inc", Status: tenant.StatusActive,
		Branding: tenant.Branding{LogoURL: "https://static.globex.test/logo.svg", PrimaryColor: "#1c7ed6"},
	}},
}

// seedDemo creates the demo tenants unless they exist.
func seedDemo(ctx context.Context, store tenant.Store) error {
	for _, d := range demoTenants {
		if err := store.Create(ctx, d.t); err != nil {
			if errors.Is(err, tenant.ErrExists) {
				continue
			}
			return err
		}
		for _, h := range d.domains {
			if err := store.PutDomain(ctx, tenant.Domain{Host: h, TenantID: d.t.ID, Status: tenant.DomainActive}); err != nil {
				return err
			}
		}
	}
	return nil
}
