package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tenantwall/tenantwall/sqlscope"
	"github.com/tenantwall/tenantwall/tenant"
)

// Store is a tenant.Store on a *sql.DB. It is safe for concurrent use and
// does not close db.
type Store struct {
	db      *sql.DB
	dialect sqlscope.Dialect
	now     func() time.Time
}

var _ tenant.Store = (*Store)(nil)

// New returns a Store over db for dialect sqlscope.Postgres or
// sqlscope.SQLite. Call Migrate once to create its tables.
func New(db *sql.DB, d sqlscope.Dialect) (*Store, error) {
	if d != sqlscope.Postgres && d != sqlscope.SQLite {
		return nil, fmt.Errorf("sqlstore: dialect %v is not supported (postgres, sqlite)", d)
	}
	return &Store{db: db, dialect: d, now: time.Now}, nil
}

// Migrate creates the store's tables and index if they do not exist.
func (s *Store) Migrate(ctx context.Context) error {
	for _, q := range []string{
		`CREATE TABLE IF NOT EXISTS tenantwall_tenants (
			id text PRIMARY KEY,
			slug text NOT NULL UNIQUE,
			name text NOT NULL,
			status text NOT NULL,
			logo_url text NOT NULL DEFAULT '',
			primary_color text NOT NULL DEFAULT '',
			created_at bigint NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS tenantwall_domains (
			host text PRIMARY KEY,
			owner_id text NOT NULL REFERENCES tenantwall_tenants (id) ON DELETE CASCADE,
			status text NOT NULL,
			created_at bigint NOT NULL,
			updated_at bigint NOT NULL)`,
		`CREATE INDEX IF NOT EXISTS tenantwall_domains_owner ON tenantwall_domains (owner_id)`,
	} {
		if _, err := s.db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("sqlstore: migrate: %w", err)
		}
	}
	return nil
}

func (s *Store) q(query string) string { return sqlscope.Rebind(s.dialect, query) }

const tenantCols = `t.id, t.slug, t.name, t.status, t.logo_url, t.primary_color, t.created_at`

func scanTenant(sc interface{ Scan(...any) error }, extra ...any) (tenant.Tenant, error) {
	var t tenant.Tenant
	var created int64
	dest := append([]any{&t.ID, &t.Slug, &t.Name, &t.Status, &t.Branding.LogoURL, &t.Branding.PrimaryColor, &created}, extra...)
	if err := sc.Scan(dest...); err != nil {
		return tenant.Tenant{}, err
	}
	t.CreatedAt = time.UnixMicro(created).UTC()
	return t, nil
}

func (s *Store) one(ctx context.Context, what, where string, arg any) (tenant.Tenant, error) {
	t, err := scanTenant(s.db.QueryRowContext(ctx, s.q(`SELECT `+tenantCols+` FROM tenantwall_tenants t WHERE `+where), arg))
	if errors.Is(err, sql.ErrNoRows) {
		return tenant.Tenant{}, fmt.Errorf("tenant %s %.70q: %w", what, fmt.Sprint(arg), tenant.ErrNotFound)
	}
	if err != nil {
		return tenant.Tenant{}, fmt.Errorf("sqlstore: tenant %s: %w", what, err)
	}
	return t, nil
}

// ByID implements tenant.Lookup.
func (s *Store) ByID(ctx context.Context, id string) (tenant.Tenant, error) {
	// Values no tenant can have are answered without a query (and some,
	// like NUL bytes, PostgreSQL would reject as an error).
	if err := tenant.ValidateID(id); err != nil {
		return tenant.Tenant{}, fmt.Errorf("%w: %w", tenant.ErrNotFound, err)
	}
	return s.one(ctx, "id", "t.id = ?", id)
}

// BySlug implements tenant.Lookup.
func (s *Store) BySlug(ctx context.Context, slug string) (tenant.Tenant, error) {
	if err := tenant.ValidateSlug(slug); err != nil {
		return tenant.Tenant{}, fmt.Errorf("%w: %w", tenant.ErrNotFound, err)
	}
	return s.one(ctx, "slug", "t.slug = ?", slug)
}

// ByDomain implements tenant.Lookup.
func (s *Store) ByDomain(ctx context.Context, host string) (tenant.Tenant, tenant.Domain, error) {
	if err := tenant.ValidateDomain(host); err != nil {
		return tenant.Tenant{}, tenant.Domain{}, fmt.Errorf("%w: %w", tenant.ErrNotFound, err)
	}
	d := tenant.Domain{Host: host}
	var created, updated int64
	t, err := scanTenant(s.db.QueryRowContext(ctx, s.q(`SELECT `+tenantCols+`, d.status, d.created_at, d.updated_at
		FROM tenantwall_domains d JOIN tenantwall_tenants t ON t.id = d.owner_id WHERE d.host = ?`), host),
		&d.Status, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return tenant.Tenant{}, tenant.Domain{}, fmt.Errorf("domain %.260q: %w", host, tenant.ErrNotFound)
	}
	if err != nil {
		return tenant.Tenant{}, tenant.Domain{}, fmt.Errorf("sqlstore: domain: %w", err)
	}
	d.TenantID = t.ID
	d.CreatedAt, d.UpdatedAt = time.UnixMicro(created).UTC(), time.UnixMicro(updated).UTC()
	return t, d, nil
}

// Create implements tenant.Store.
func (s *Store) Create(ctx context.Context, t tenant.Tenant) error {
	if err := t.Validate(); err != nil {
		return err
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = s.now()
	}
	res, err := s.db.ExecContext(ctx, s.q(`INSERT INTO tenantwall_tenants (id, slug, name, status, logo_url, primary_color, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`),
		t.ID, t.Slug, t.Name, string(t.Status), t.Branding.LogoURL, t.Branding.PrimaryColor, t.CreatedAt.UnixMicro())
	if err != nil {
		if isUniqueViolation(err) {
			return fmt.Errorf("tenant %q: %w", t.Slug, tenant.ErrExists)
		}
		return fmt.Errorf("sqlstore: create: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlstore: create: %w", err)
	} else if n == 0 {
		return fmt.Errorf("tenant id %q or slug %q: %w", t.ID, t.Slug, tenant.ErrExists)
	}
	return nil
}

// Update implements tenant.Store.
func (s *Store) Update(ctx context.Context, t tenant.Tenant) error {
	if err := t.Validate(); err != nil {
		return err
	}
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE tenantwall_tenants SET slug = ?, name = ?, status = ?, logo_url = ?, primary_color = ?
		WHERE id = ?`), t.Slug, t.Name, string(t.Status), t.Branding.LogoURL, t.Branding.PrimaryColor, t.ID)
	if err != nil {
		if isUniqueViolation(err) {
			return fmt.Errorf("tenant slug %q: %w", t.Slug, tenant.ErrExists)
		}
		return fmt.Errorf("sqlstore: update: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlstore: update: %w", err)
	} else if n == 0 {
		return fmt.Errorf("tenant id %q: %w", t.ID, tenant.ErrNotFound)
	}
	return nil
}

// Delete implements tenant.Store. Domain records go with the tenant.
func (s *Store) Delete(ctx context.Context, id string) error {
	if err := tenant.ValidateID(id); err != nil {
		return fmt.Errorf("%w: %w", tenant.ErrNotFound, err)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlstore: delete: %w", err)
	}
	defer tx.Rollback()
	// Explicit, because SQLite enforces ON DELETE CASCADE only with
	// PRAGMA foreign_keys on.
	if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM tenantwall_domains WHERE owner_id = ?`), id); err != nil {
		return fmt.Errorf("sqlstore: delete: %w", err)
	}
	res, err := tx.ExecContext(ctx, s.q(`DELETE FROM tenantwall_tenants WHERE id = ?`), id)
	if err != nil {
		return fmt.Errorf("sqlstore: delete: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("tenant id %.40q: %w", id, tenant.ErrNotFound)
	}
	return tx.Commit()
}

// List implements tenant.Store.
func (s *Store) List(ctx context.Context) ([]tenant.Tenant, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+tenantCols+` FROM tenantwall_tenants t ORDER BY t.slug`)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list: %w", err)
	}
	defer rows.Close()
	var out []tenant.Tenant
	for rows.Next() {
		t, err := scanTenant(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: list: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// PutDomain implements tenant.Store. The ownership rule is one atomic
// statement, so two tenants racing for a domain cannot both win.
func (s *Store) PutDomain(ctx context.Context, d tenant.Domain) error {
	if err := d.Validate(); err != nil {
		return err
	}
	if _, err := s.ByID(ctx, d.TenantID); err != nil {
		return fmt.Errorf("domain %q: %w", d.Host, err)
	}
	now := s.now().UnixMicro()
	res, err := s.db.ExecContext(ctx, s.q(`INSERT INTO tenantwall_domains (host, owner_id, status, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (host) DO UPDATE SET
			owner_id = excluded.owner_id,
			status = excluded.status,
			updated_at = excluded.updated_at,
			created_at = CASE WHEN tenantwall_domains.owner_id = excluded.owner_id
				THEN tenantwall_domains.created_at ELSE excluded.created_at END
		WHERE tenantwall_domains.owner_id = excluded.owner_id
		   OR (tenantwall_domains.status = 'removed' AND excluded.status = 'pending')`),
		d.Host, d.TenantID, string(d.Status), now, now)
	if err != nil {
		return fmt.Errorf("sqlstore: put domain %q: %w", d.Host, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlstore: put domain %q: %w", d.Host, err)
	} else if n == 0 {
		return fmt.Errorf("domain %q: %w", d.Host, tenant.ErrDomainTaken)
	}
	return nil
}

// DeleteDomain implements tenant.Store.
func (s *Store) DeleteDomain(ctx context.Context, host string) error {
	if err := tenant.ValidateDomain(host); err != nil {
		return fmt.Errorf("%w: %w", tenant.ErrNotFound, err)
	}
	res, err := s.db.ExecContext(ctx, s.q(`DELETE FROM tenantwall_domains WHERE host = ?`), host)
	if err != nil {
		return fmt.Errorf("sqlstore: delete domain: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("domain %.260q: %w", host, tenant.ErrNotFound)
	}
	return nil
}

// Domains implements tenant.Store.
func (s *Store) Domains(ctx context.Context, tenantID string) ([]tenant.Domain, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT host, status, created_at, updated_at FROM tenantwall_domains
		WHERE owner_id = ? ORDER BY host`), tenantID)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: domains: %w", err)
	}
	defer rows.Close()
	var out []tenant.Domain
	for rows.Next() {
		d := tenant.Domain{TenantID: tenantID}
		var created, updated int64
		if err := rows.Scan(&d.Host, &d.Status, &created, &updated); err != nil {
			return nil, fmt.Errorf("sqlstore: domains: %w", err)
		}
		d.CreatedAt, d.UpdatedAt = time.UnixMicro(created).UTC(), time.UnixMicro(updated).UTC()
		out = append(out, d)
	}
	return out, rows.Err()
}

// isUniqueViolation recognises a unique-constraint error from PostgreSQL
// drivers (SQLSTATE 23505) and SQLite (extended codes 2067 and 1555)
// without importing either driver.
func isUniqueViolation(err error) bool {
	var pg interface{ SQLState() string }
	if errors.As(err, &pg) && pg.SQLState() == "23505" {
		return true
	}
	var lite interface{ Code() int }
	if errors.As(err, &lite) {
		c := lite.Code()
		return c == 2067 || c == 1555
	}
	return false
}
