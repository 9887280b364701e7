package sqlscope

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/tenantwall/tenantwall/tenant"
)

// DefaultSchemaPrefix prefixes tenant schema names: the tenant with ID
// 0c646b52-25da-42ce-8d9e-c8e42aaebe49 lives in schema
// "tenant_0c646b52_25da_42ce_8d9e_c8e42aaebe49".
const DefaultSchemaPrefix = "tenant_"

// maxSchemaPrefix leaves room for the 36 bytes of the ID in PostgreSQL's
// 63-byte identifiers: a longer name would be truncated by the server,
// and two tenants could share the truncated schema.
const maxSchemaPrefix = 63 - 36

// SchemaOption configures NewSchemas. It is a type of its own: RLS's
// options (the setting, the platform handle, the role check) mean nothing
// to Schemas and cannot be passed to it.
type SchemaOption func(*schemaOptions) error

type schemaOptions struct {
	prefix string
}

// WithSchemaPrefix sets the tenant schema prefix (default
// DefaultSchemaPrefix): a valid identifier start of at most 27 bytes.
func WithSchemaPrefix(p string) SchemaOption {
	return func(o *schemaOptions) error {
		if err := checkIdent(p); err != nil {
			return err
		}
		if len(p) > maxSchemaPrefix {
			return fmt.Errorf("%w: schema prefix %q longer than %d bytes", ErrIdentifier, p, maxSchemaPrefix)
		}
		o.prefix = p
		return nil
	}
}

// Schemas isolates tenants in PostgreSQL schemas, one per tenant, named
// from the tenant's immutable ID, never from its renamable slug: a tenant
// that gives up a slug, and another that takes it, keep their own schemas,
// and a request carrying a stale copy of a tenant (an old slug in another
// process's cache) is still served in that tenant's schema. A scoped
// transaction sees only its tenant's schema: search_path is set,
// transaction-locally, to that schema alone (and pg_temp last), never
// falling through to public.
//
// Databases whose schemas were named from slugs by an earlier version
// move them with AdoptSlugSchema. Safe for concurrent use; it does not own
// db.
type Schemas struct {
	db     *sql.DB
	prefix string
}

// NewSchemas returns a Schemas over db.
func NewSchemas(db *sql.DB, opts ...SchemaOption) (*Schemas, error) {
	o := schemaOptions{prefix: DefaultSchemaPrefix}
	for _, f := range opts {
		if err := f(&o); err != nil {
			return nil, err
		}
	}
	return &Schemas{db: db, prefix: o.prefix}, nil
}

// Name returns the schema name of tenant t, unquoted: the prefix and t.ID
// with '_' for '-'. The ID must pass tenant.ValidateID (canonical
// lowercase UUID), so no name can smuggle SQL, exceed 63 bytes or reach
// another schema. No slug can spell such a name (slugs have no '_'), so a
// schema named from a slug by an earlier version is never taken for a
// tenant's ID-named one. The slug plays no part.
func (s *Schemas) Name(t tenant.Tenant) (string, error) {
	return s.idName(t.ID)
}

func (s *Schemas) idName(id string) (string, error) {
	if err := tenant.ValidateID(id); err != nil {
		return "", fmt.Errorf("%w: schema of tenant: %w", ErrIdentifier, err)
	}
	name := s.prefix + strings.ReplaceAll(id, "-", "_")
	if err := checkIdent(name); err != nil {
		return "", err
	}
	return name, nil
}

// Create creates tenant t's schema and its migration ledger.
func (s *Schemas) Create(ctx context.Context, t tenant.Tenant) error {
	name, err := s.Name(t)
	if err != nil {
		return err
	}
	return s.create(ctx, name)
}

func (s *Schemas) create(ctx context.Context, name string) error {
	q, err := QuoteIdent(name)
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

// Drop drops tenant t's schema and everything in it.
func (s *Schemas) Drop(ctx context.Context, t tenant.Tenant) error {
	name, err := s.Name(t)
	if err != nil {
		return err
	}
	q, _ := QuoteIdent(name)
	_, err = s.db.ExecContext(ctx, `DROP SCHEMA IF EXISTS `+q+` CASCADE`)
	return err
}

// AdoptSlugSchema migrates tenant t's schema from the slug-named scheme of
// earlier versions (prefix + slug) to its ID-named one, by renaming it in
// a transaction. Run it once per tenant, with each tenant's current slug
// as the store has it, before serving with this version; a tenant that
// has no slug-named schema is left alone.
//
// It cannot tell whose data a slug-named schema holds: only that its name
// is the prefix and t's current slug. A slug that passed from one tenant to
// another (a rename or a deletion that left the schema behind) leaves the
// former holder's schema under that name, and adopting it gives the former
// holder's rows to t. Adopt a tenant only if the earlier version served it
// from that schema; a schema left by a former holder of the slug is for an
// operator to rename or drop.
//
// It is idempotent: it reports adopted=false, and does nothing, when the
// slug-named schema does not exist (never created, or already adopted).
// It refuses, with ErrSchemaConflict, when both the slug-named and the
// ID-named schema exist, rather than choose between two tenants' data.
// Concurrent calls for one tenant serialise on an advisory lock.
func (s *Schemas) AdoptSlugSchema(ctx context.Context, t tenant.Tenant) (adopted bool, err error) {
	to, err := s.Name(t)
	if err != nil {
		return false, err
	}
	if err := tenant.ValidateSlug(t.Slug); err != nil {
		return false, fmt.Errorf("%w: slug schema of tenant %s: %w", ErrIdentifier, t.ID, err)
	}
	from := s.prefix + t.Slug
	if err := checkIdent(from); err != nil {
		return false, err
	}
	qFrom, _ := QuoteIdent(from)
	qTo, _ := QuoteIdent(to)
	err = runTx(ctx, s.db, nil, func(tx *sql.Tx) error {
		// The lock Migrate takes on the ID-named schema, so that a
		// migration does not run against it half-way through the move.
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext('tenantwall.migrate'), hashtext($1))`, to); err != nil {
			return err
		}
		var haveFrom, haveTo bool
		if err := tx.QueryRowContext(ctx, `SELECT
			EXISTS (SELECT FROM pg_namespace WHERE nspname = $1),
			EXISTS (SELECT FROM pg_namespace WHERE nspname = $2)`, from, to).Scan(&haveFrom, &haveTo); err != nil {
			return err
		}
		switch {
		case !haveFrom:
			return nil
		case haveTo:
			return fmt.Errorf("%w: both %s (slug %q) and %s (tenant %s) exist", ErrSchemaConflict, from, t.Slug, to, t.ID)
		}
		if _, err := tx.ExecContext(ctx, `ALTER SCHEMA `+qFrom+` RENAME TO `+qTo); err != nil {
			return err
		}
		adopted = true
		return nil
	})
	if err != nil {
		return false, err
	}
	return adopted, nil
}

// Tx runs fn in a transaction whose search_path is the schema of the
// context tenant's ID alone (its slug plays no part), set with set_config('search_path', …, true). Without a
// tenant it returns tenant.ErrNoTenant before any SQL is sent.
//
// PostgreSQL re-plans prepared statements when search_path changes, but
// pgx's default statement cache keeps result descriptions by SQL text, so
// with pgx use pgxscope.Scope.SchemaTx, which refuses connections in a
// caching mode, or open the database/sql handle with
// default_query_exec_mode=describe_exec when tenant schemas can differ
// in shape.
func (s *Schemas) Tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	id, err := tenant.IDFromContext(ctx)
	if err != nil {
		return err
	}
	name, err := s.idName(id)
	if err != nil {
		return err
	}
	q, _ := QuoteIdent(name)
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
	ID  string // unique and stable: recorded in each schema once applied
	SQL string // run with search_path set to the tenant's schema
}

// MigrateOptions tunes Migrate.
type MigrateOptions struct {
	// Parallelism bounds how many schemas migrate at once (default 4).
	Parallelism int
}

// TenantReport is what Migrate did for one tenant.
type TenantReport struct {
	ID      string   // the tenant's ID
	Schema  string   // the tenant's schema name, unquoted
	Applied []string // migrations applied by this run, in order
	Skipped []string // migrations already recorded
	Err     error    // the first failure; later migrations were not tried
}

// Report is the result of Migrate, one entry per tenant in input order.
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
// Report says which failed and why. Schemas are named from each tenant's
// ID; a tenant whose slug-named schema of an earlier version still exists
// (and no ID-named one) fails with ErrSchemaConflict: run
// AdoptSlugSchema first.
func (s *Schemas) Migrate(ctx context.Context, tenants []tenant.Tenant, migrations []Migration, opts *MigrateOptions) (Report, error) {
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
	report := make(Report, len(tenants))
	var g errgroup.Group
	g.SetLimit(par)
	var mu sync.Mutex
	failed := 0
	for i, t := range tenants {
		report[i].ID = t.ID
		g.Go(func() error {
			err := s.migrateOne(ctx, t, &report[i], migrations)
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
		return report, fmt.Errorf("%w: %d of %d tenant schemas", ErrMigration, failed, len(tenants))
	}
	return report, nil
}

// checkAdopted refuses to create the ID-named schema of a tenant whose
// slug-named schema of an earlier version still exists: the tenant would
// be served from a fresh, empty schema, and AdoptSlugSchema would then
// find both.
func (s *Schemas) checkAdopted(ctx context.Context, t tenant.Tenant, name string) error {
	if tenant.ValidateSlug(t.Slug) != nil {
		return nil // no slug: nothing can have been named from it
	}
	old := s.prefix + t.Slug
	var exists bool
	err := s.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = $1)
		AND NOT EXISTS (SELECT FROM pg_namespace WHERE nspname = $2)`, old, name).Scan(&exists)
	if err != nil {
		return err
	}
	if exists {
		return fmt.Errorf("%w: schema %s, named from slug %q by an earlier version, exists: if the earlier version served tenant %s from it, adopt it (AdoptSlugSchema); if it was left by a former holder of the slug, it holds that tenant's rows: rename or drop it, never adopt it", ErrSchemaConflict, old, t.Slug, t.ID)
	}
	return nil
}

func (s *Schemas) migrateOne(ctx context.Context, t tenant.Tenant, rep *TenantReport, migrations []Migration) error {
	name, err := s.idName(rep.ID)
	if err != nil {
		return err
	}
	rep.Schema = name
	if err := s.checkAdopted(ctx, t, name); err != nil {
		return err
	}
	if err := s.create(ctx, name); err != nil {
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
