package main

import (
	"context"
	"database/sql"
	"errors"
	"net/url"

	"github.com/tenantwall/tenantwall/sqlscope"
	"github.com/tenantwall/tenantwall/sqlscope/sqlstore"
	"github.com/tenantwall/tenantwall/tenant"
)

// Demo names. A real deployment creates its roles once, as the README's
// adoption guide shows, and passes their URLs with -db and -app-db.
const (
	demoDatabase = "tenantwall_notes"
	demoAppRole  = "tenantwall_notes_app"
)

// demo prepares what `go run ./examples/notes` needs on a local test
// server: its own database (so nothing else there is audited), an
// application role that is neither superuser, BYPASSRLS nor owner, and two
// tenants, acme and globex. It is idempotent.
func demo(ctx context.Context, serverURL string, cfg config) (config, error) {
	admin, err := sql.Open("pgx", serverURL)
	if err != nil {
		return cfg, err
	}
	defer admin.Close()
	var exists bool
	if err := admin.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, demoDatabase).Scan(&exists); err != nil {
		return cfg, err
	}
	if !exists {
		if _, err := admin.ExecContext(ctx, `CREATE DATABASE `+demoDatabase); err != nil {
			return cfg, err
		}
	}
	if _, err := admin.ExecContext(ctx, `DO $$ BEGIN
		IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '`+demoAppRole+`') THEN
			CREATE ROLE `+demoAppRole+` LOGIN NOSUPERUSER NOBYPASSRLS NOINHERIT;
		END IF; END $$`); err != nil {
		return cfg, err
	}
	u, err := url.Parse(serverURL)
	if err != nil {
		return cfg, err
	}
	u.Path = "/" + demoDatabase
	cfg.ownerURL = u.String()
	u.User = url.User(demoAppRole)
	cfg.appURL = u.String()

	owner, err := sql.Open("pgx", cfg.ownerURL)
	if err != nil {
		return cfg, err
	}
	defer owner.Close()
	if err := migrate(ctx, owner); err != nil {
		return cfg, err
	}
	for _, g := range []string{
		`GRANT USAGE ON SCHEMA public TO ` + demoAppRole,
		`GRANT SELECT, INSERT, UPDATE, DELETE ON notes TO ` + demoAppRole,
		`GRANT SELECT ON tenantwall_tenants, tenantwall_domains TO ` + demoAppRole,
	} {
		if _, err := owner.ExecContext(ctx, g); err != nil {
			return cfg, err
		}
	}
	tenants, err := sqlstore.New(owner, sqlscope.Postgres)
	if err != nil {
		return cfg, err
	}
	for _, t := range []struct{ slug, name string }{{"acme", "Acme Corp"}, {"globex", "Globex"}} {
		if _, err := tenants.BySlug(ctx, t.slug); err == nil {
			continue
		} else if !errors.Is(err, tenant.ErrNotFound) {
			return cfg, err
		}
		if err := tenants.Create(ctx, tenant.Tenant{ID: tenant.NewID(), Slug: t.slug, Name: t.name, Status: tenant.StatusActive}); err != nil {
			return cfg, err
		}
	}
	return cfg, nil
}
