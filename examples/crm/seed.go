package main

import (
	"context"
	"errors"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/tenantwall/tenantwall/sqlscope"
	"github.com/tenantwall/tenantwall/tenant"
)

// demoTenant describes one seeded tenant. IDs are fixed so that curl
// examples and clients can rely on them.
type demoTenant struct {
	t       tenant.Tenant
	domains []string
	leads   []string
}

var demoTenants = []demoTenant{
	{t: tenant.Tenant{
		ID: "0b4c1e9a-6f57-4a3e-8d8f-2f7c5a1d9e01", Slug: "acme", Name: "Acme Corporation", Status: tenant.StatusActive,
		Branding: tenant.Branding{LogoURL: "https://static.acme.test/logo.png", PrimaryColor: "#d9480f"},
	}, domains: []string{"crm.acme.test"}, leads: []string{"Wile E. Coyote", "Road Runner Logistics", "Desert Supplies Ltd"}},
	{t: tenant.Tenant{
		ID: "5e2d8c77-1b0a-4f6e-9c3d-7a8b9c0d1e02", Slug: "globex", Name: "Globex Inc", Status: tenant.StatusActive,
		Branding: tenant.Branding{LogoURL: "https://static.globex.test/logo.svg", PrimaryColor: "#1c7ed6"},
	}, leads: []string{"Hank Scorpio", "Cypress Creek Realty"}},
}

// demoPassword is every demo user's password.
const demoPassword = "demo"

// seedDemo creates the demo tenants, users and data unless the tenants
// exist already.
func (a *app) seedDemo(ctx context.Context) error {
	for _, d := range demoTenants {
		if err := a.tenants.Create(ctx, d.t); err != nil {
			if errors.Is(err, tenant.ErrExists) {
				continue
			}
			return err
		}
		for _, h := range d.domains {
			if err := a.tenants.PutDomain(ctx, tenant.Domain{Host: h, TenantID: d.t.ID, Status: tenant.DomainActive}); err != nil {
				return err
			}
		}
		tctx := tenant.NewContext(ctx, d.t)
		if _, err := a.createUser(tctx, "admin@"+d.t.Slug+".test", "Admin of "+d.t.Name, demoPassword); err != nil {
			return err
		}
		for i, name := range d.leads {
			if _, err := a.create(tctx, resources["leads"], map[string]any{"name": name, "phone": "", "email": "",
				"status": []string{"new", "contacted", "qualified"}[i%3]}); err != nil {
				return err
			}
		}
		for _, title := range []string{"Call back " + d.leads[0], "Send the proposal"} {
			if _, err := a.create(tctx, resources["tasks"], map[string]any{"title": title, "due": time.Now().AddDate(0, 0, 7).Format("2006-01-02"), "done": false}); err != nil {
				return err
			}
		}
		if _, err := a.create(tctx, resources["notifications"], map[string]any{"message": "Welcome to " + d.t.Name + "'s CRM", "read": false}); err != nil {
			return err
		}
		b, err := a.files.Bucket(tctx)
		if err != nil {
			return err
		}
		body := "Price list of " + d.t.Name + " — confidential to " + d.t.Slug + ".\n"
		obj, err := b.Upload(tctx, "documents", "price-list.txt", strings.NewReader(body), "text/plain; charset=utf-8")
		if err != nil {
			return err
		}
		err = a.data.tx(tctx, func(f *sqlscope.Filter) error {
			_, err := f.Insert(tctx, "documents", []string{"name", "size", "content_type", "blob_key", "created_at"},
				obj.Name, obj.Size, obj.ContentType, obj.Key, time.Now().UnixMilli())
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// createUser adds a user to the context tenant.
func (a *app) createUser(ctx context.Context, email, name, password string) (user, error) {
	cost := a.cfg.bcryptCost
	if cost < bcrypt.MinCost {
		cost = bcrypt.DefaultCost
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return user{}, err
	}
	u := user{Email: strings.ToLower(email), Name: name}
	err = a.data.tx(ctx, func(f *sqlscope.Filter) error {
		return f.InsertReturning(ctx, "users", []string{"email", "name", "password_hash", "created_at"},
			[]any{u.Email, name, string(hash), time.Now().UnixMilli()}, "id").Scan(&u.ID)
	})
	return u, err
}
