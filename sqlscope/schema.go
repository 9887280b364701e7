package sqlscope

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/tenantwall/tenantwall/tenant"
)

// DefaultSchemaPrefix prefixes tenant schema names: slug "acme" lives in
// schema "tenant_acme".
const DefaultSchemaPrefix = "tenant_"

// WithSchemaPrefix sets the tenant schema prefix (default
// DefaultSchemaPrefix). It must be a valid identifier start.
func WithSchemaPrefix(p string) Option {
	return func(o *options) error {
		if err := checkIdent(p); err != nil {
			return err
		}
		o.prefix = p
		return nil
	}
}

// Schemas isolates tenants in PostgreSQL schemas, one per tenant, named
// from the tenant's validated slug. A scoped transaction sees only its
// tenant's schema: search_path is set, transaction-locally, to that schema
// alone (and pg_temp last), never falling through to public.
//
// Schema names follow slugs; when a slug changes, rename the schema with
// Rename in the same change. Safe for concurrent use; it does not own db.
type Schemas struct {
	db      *sql.DB
	prefix  string
	auditor tenant.Auditor
}

// NewSchemas returns a Schemas over db.
func NewSchemas(db *sql.DB, opts ...Option) (*Schemas, error) {
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	return &Schemas{db: db, prefix: o.prefix, auditor: o.auditor}, nil
}

// Name returns the schema name for a slug, unquoted. The slug must pass
// tenant.ValidateSlug, so no name can smuggle SQL or reach another schema.
func (s *Schemas) Name(slug string) (string, error) {
	if err := tenant.ValidateSlug(slug); err != nil {
		return "", fmt.Errorf("%w: %w", ErrIdentifier, err)
	}
	name := s.prefix + slug
	if err := checkIdent(name); err != nil {
		return "", err
	}
	return name, nil
}

func (s *Schemas) quoted(slug string) (string, error) {
	n, err := s.Name(slug)
	if err != nil {
		return "", err
	}
	return QuoteIdent(n)
}

// Create creates the tenant's schema and its migration ledger.
func (s *Schemas) Create(ctx context.Context, slug string) error {
	q, err := s.quoted(slug)
	if err != nil {
		return err
	}
	return runTx(ctx, s.db, nil, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `CREATE SCHEMA IF NOT EXISTS `+q); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+q+`.tenantwall_migrations (
			id text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`)
		return err
	})
}

// Drop drops the tenant's schema and everything in it.
func (s *Schemas) Drop(ctx context.Context, slug string) error {
	q, err := s.quoted(slug)
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, `DROP SCHEMA IF EXISTS `+q+` CASCADE`)
	return err
}

// Rename renames a tenant's schema after a slug change.
func (s *Schemas) Rename(ctx context.Context, oldSlug, newSlug string) error {
	from, err := s.quoted(oldSlug)
	if err != nil {
		return err
	}
	to, err := s.Name(newSlug)
	if err != nil {
		return err
	}
	to, _ = QuoteIdent(to)
	_, err = s.db.ExecContext(ctx, `ALTER SCHEMA `+from+` RENAME TO `+to)
	return err
}

// Tx runs fn in a transaction whose search_path is the context tenant's
// schema alone, set with set_config('search_path', …, true). Without a
// tenant it returns tenant.ErrNoTenant before any SQL is sent.
//
// PostgreSQL re-plans prepared statements when search_path changes, but
// pgx's default statement cache keeps result descriptions by SQL text, so
// with pgx use pgxscope.Scope.SchemaTx, which refuses connections in a
// caching mode, or open the database/sql handle with
// default_query_exec_mode=describe_exec when tenant schemas can differ
// in shape.
func (s *Schemas) Tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	t, ok := tenant.FromContext(ctx)
	if !ok || t.ID == "" {
		return tenant.ErrNoTenant
	}
	q, err := s.quoted(t.Slug)
	if err != nil {
		return err
	}
	return runTx(ctx, s.db, nil, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `SELECT set_config('search_path', $1, true)`, q+", pg_temp"); err != nil {
			return fmt.Errorf("sqlscope: set search_path: %w", err)
		}
		return fn(tx)
	})
}

// Migration is one schema change applied to every tenant schema. IDs are
// recorded per schema; a migration whose ID is recorded is skipped.
type Migration struct {
	ID  string
	SQL string
}

// MigrateOptions tunes Migrate.
type MigrateOptions struct {
	// Parallelism bounds how many schemas migrate at once (default 4).
	Parallelism int
}

// TenantReport is what Migrate did for one tenant.
type TenantReport struct {
	Slug    string
	Schema  string
	Applied []string // migrations applied by this run, in order
	Skipped []string // migrations already recorded
	Err     error    // the first failure; later migrations were not tried
}

// Report is the result of Migrate, one entry per slug in input order.
type Report []TenantReport

// Failed returns the reports of tenants whose migration failed.
func (r Report) Failed() Report {
	var out Report
	for _, t := range r {
		if t.Err != nil {
			out = append(out, t)
		}
	}
	return out
}

// Migrate applies migrations, in order, to each tenant's schema (created if
// missing). Each migration runs in its own transaction with search_path set
// to the schema, under a transaction-level advisory lock on the schema, so
// concurrent migrators never apply one twice, and a crash leaves every
// schema at a migration boundary: run Migrate again to resume. A failing
// tenant does not stop the others; the error wraps ErrMigration and the
// Report says which failed and why.
func (s *Schemas) Migrate(ctx context.Context, slugs []string, migrations []Migration, opts *MigrateOptions) (Report, error) {
	seen := map[string]bool{}
	for _, m := range migrations {
		if m.ID == "" || seen[m.ID] {
			return nil, fmt.Errorf("%w: migration id %q empty or repeated", ErrMigration, m.ID)
		}
		seen[m.ID] = true
	}
	par := 4
	if opts != nil && opts.Parallelism > 0 {
		par = opts.Parallelism
	}
	report := make(Report, len(slugs))
	var g errgroup.Group
	g.SetLimit(par)
	var mu sync.Mutex
	failed := 0
	for i, slug := range slugs {
		report[i].Slug = slug
		g.Go(func() error {
			err := s.migrateOne(ctx, &report[i], migrations)
			if err != nil {
				report[i].Err = err
				mu.Lock()
				failed++
				mu.Unlock()
			}
			return nil
		})
	}
	_ = g.Wait()
	if failed > 0 {
		return report, fmt.Errorf("%w: %d of %d tenant schemas", ErrMigration, failed, len(slugs))
	}
	return report, nil
}

func (s *Schemas) migrateOne(ctx context.Context, rep *TenantReport, migrations []Migration) error {
	name, err := s.Name(rep.Slug)
	if err != nil {
		return err
	}
	rep.Schema = name
	if err := s.Create(ctx, rep.Slug); err != nil {
		return err
	}
	q, _ := QuoteIdent(name)
	for _, m := range migrations {
		applied := false
		err := runTx(ctx, s.db, nil, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext('tenantwall.migrate'), hashtext($1))`, name); err != nil {
				return err
			}
			var one int
			err := tx.QueryRowContext(ctx, `SELECT 1 FROM `+q+`.tenantwall_migrations WHERE id = $1`, m.ID).Scan(&one)
			if err == nil {
				return nil // recorded: skip
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			if _, err := tx.ExecContext(ctx, `SELECT set_config('search_path', $1, true)`, q+", pg_temp"); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO `+q+`.tenantwall_migrations (id) VALUES ($1)`, m.ID); err != nil {
				return err
			}
			applied = true
			return nil
		})
		if err != nil {
			return fmt.Errorf("migration %q on schema %s: %w", m.ID, name, err)
		}
		if applied {
			rep.Applied = append(rep.Applied, m.ID)
		} else {
			rep.Skipped = append(rep.Skipped, m.ID)
		}
	}
	return nil
}
