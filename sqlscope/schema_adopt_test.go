package sqlscope_test

import (
	"context"
	"database/sql"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/internal/testenv"
	"github.com/tenantwall/tenantwall/sqlscope"
	"github.com/tenantwall/tenantwall/tenant"
	"github.com/tenantwall/tenantwall/tenant/tenanttest"
)

var ownerMigration = []sqlscope.Migration{{ID: "001_owner", SQL: `CREATE TABLE owner (v text)`}}

func readOwner(t *testing.T, s *sqlscope.Schemas, ctx context.Context) string {
	t.Helper()
	var v string
	require.NoError(t, s.Tx(ctx, func(tx *sql.Tx) error {
		return tx.QueryRow(`SELECT coalesce(string_agg(v, ','), '') FROM owner`).Scan(&v)
	}))
	return v
}

func writeOwner(t *testing.T, s *sqlscope.Schemas, ctx context.Context, v string) {
	t.Helper()
	require.NoError(t, s.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO owner VALUES ($1)`, v)
		return err
	}))
}

// TestSchemaSurvivesSlugReuse is issue 13's scenario: tenant X gives up
// slug foo, tenant Y takes it, and a process whose resolver cache still
// maps the host to X (a stale X carrying slug foo) serves X's request.
// It must be served in X's schema, never Y's.
func TestSchemaSurvivesSlugReuse(t *testing.T) {
	ctx := context.Background()
	_, db := testenv.PostgresDB(t)
	s, err := sqlscope.NewSchemas(db)
	require.NoError(t, err)
	foo := tenanttest.RandomSlug("foo")
	x := tenanttest.NewTenant(foo)
	_, err = s.Migrate(ctx, []tenant.Tenant{x}, ownerMigration, nil)
	require.NoError(t, err)
	writeOwner(t, s, tenant.NewContext(ctx, x), "X")
	stale := x // what the other process still has cached

	x.Slug = tenanttest.RandomSlug("bar") // X renames: nothing to do for its schema
	y := tenanttest.NewTenant(foo)        // Y takes foo
	_, err = s.Migrate(ctx, []tenant.Tenant{x, y}, ownerMigration, nil)
	require.NoError(t, err)
	writeOwner(t, s, tenant.NewContext(ctx, y), "Y")

	assert.Equal(t, "X", readOwner(t, s, tenant.NewContext(ctx, stale)), "a stale X must be served in X's schema")
	assert.Equal(t, "X", readOwner(t, s, tenant.NewContext(ctx, x)))
	assert.Equal(t, "Y", readOwner(t, s, tenant.NewContext(ctx, y)))
}

// oldSlugSchema creates what an earlier version made for a tenant: a
// schema named prefix+slug with its migration ledger, one migration
// recorded, and a row.
func oldSlugSchema(t *testing.T, db *sql.DB, slug, row string) {
	t.Helper()
	q := `"tenant_` + slug + `"`
	_, err := db.Exec(`CREATE SCHEMA ` + q + `;
		CREATE TABLE ` + q + `.tenantwall_migrations (id text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now());
		INSERT INTO ` + q + `.tenantwall_migrations (id) VALUES ('001_owner');
		CREATE TABLE ` + q + `.owner (v text);
		INSERT INTO ` + q + `.owner VALUES ('` + row + `')`)
	require.NoError(t, err)
}

func schemaExists(t *testing.T, db *sql.DB, name string) bool {
	t.Helper()
	var ok bool
	require.NoError(t, db.QueryRow(`SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = $1)`, name).Scan(&ok))
	return ok
}

func TestAdoptSlugSchema(t *testing.T) {
	ctx := context.Background()
	_, db := testenv.PostgresDB(t)
	s, err := sqlscope.NewSchemas(db)
	require.NoError(t, err)

	t.Run("an unadopted slug schema stops Migrate, which would serve an empty schema", func(t *testing.T) {
		x := tenanttest.NewTenant(tenanttest.RandomSlug("x"))
		oldSlugSchema(t, db, x.Slug, "X")
		report, err := s.Migrate(ctx, []tenant.Tenant{x}, ownerMigration, nil)
		require.ErrorIs(t, err, sqlscope.ErrMigration)
		assert.ErrorIs(t, report[0].Err, sqlscope.ErrSchemaConflict)
		// The slug may have passed from another tenant, whose rows the
		// schema then holds: the error must not just say "adopt it".
		assert.Contains(t, report[0].Err.Error(), "former holder of the slug")
		assert.Contains(t, report[0].Err.Error(), "never adopt it")
		name, _ := s.Name(x)
		assert.False(t, schemaExists(t, db, name), "Migrate must not create the ID-named schema beside the slug-named one")
	})
	t.Run("adoption renames the slug schema to the ID schema, ledger and data included, once", func(t *testing.T) {
		x := tenanttest.NewTenant(tenanttest.RandomSlug("x"))
		oldSlugSchema(t, db, x.Slug, "X")
		adopted, err := s.AdoptSlugSchema(ctx, x)
		require.NoError(t, err)
		assert.True(t, adopted)
		assert.False(t, schemaExists(t, db, "tenant_"+x.Slug))
		assert.Equal(t, "X", readOwner(t, s, tenant.NewContext(ctx, x)))
		report, err := s.Migrate(ctx, []tenant.Tenant{x}, ownerMigration, nil)
		require.NoError(t, err)
		assert.Equal(t, []string{"001_owner"}, report[0].Skipped, "the ledger moved with the schema")
		adopted, err = s.AdoptSlugSchema(ctx, x)
		require.NoError(t, err)
		assert.False(t, adopted, "a second adoption does nothing")
		assert.Equal(t, "X", readOwner(t, s, tenant.NewContext(ctx, x)))
	})
	t.Run("a tenant without a slug schema is left alone", func(t *testing.T) {
		z := tenanttest.NewTenant(tenanttest.RandomSlug("z"))
		adopted, err := s.AdoptSlugSchema(ctx, z)
		require.NoError(t, err)
		assert.False(t, adopted)
		name, _ := s.Name(z)
		assert.False(t, schemaExists(t, db, name))
	})
	t.Run("both schemas existing is refused and changes nothing", func(t *testing.T) {
		x := tenanttest.NewTenant(tenanttest.RandomSlug("x"))
		oldSlugSchema(t, db, x.Slug, "old X")
		require.NoError(t, s.Create(ctx, x))
		adopted, err := s.AdoptSlugSchema(ctx, x)
		assert.ErrorIs(t, err, sqlscope.ErrSchemaConflict)
		assert.False(t, adopted)
		assert.True(t, schemaExists(t, db, "tenant_"+x.Slug))
	})
	t.Run("a slug that spells another tenant's ID cannot adopt its schema", func(t *testing.T) {
		victim := tenanttest.NewTenant(tenanttest.RandomSlug("v"))
		_, err := s.Migrate(ctx, []tenant.Tenant{victim}, ownerMigration, nil)
		require.NoError(t, err)
		writeOwner(t, s, tenant.NewContext(ctx, victim), "victim")
		for _, slug := range []string{
			victim.ID,                              // the UUID itself is a valid slug
			strings.ReplaceAll(victim.ID, "-", ""), // its 32 hex digits too
		} {
			require.NoError(t, tenant.ValidateSlug(slug))
			attacker := tenanttest.NewTenant(slug)
			adopted, err := s.AdoptSlugSchema(ctx, attacker)
			require.NoError(t, err)
			assert.False(t, adopted, "slug %q", slug)
			_, err = s.Migrate(ctx, []tenant.Tenant{attacker}, ownerMigration, nil)
			require.NoError(t, err)
			assert.Empty(t, readOwner(t, s, tenant.NewContext(ctx, attacker)), "slug %q reached the victim's schema", slug)
		}
		assert.Equal(t, "victim", readOwner(t, s, tenant.NewContext(ctx, victim)))
	})
	t.Run("concurrent adoptions rename once", func(t *testing.T) {
		x := tenanttest.NewTenant(tenanttest.RandomSlug("x"))
		oldSlugSchema(t, db, x.Slug, "X")
		var wg sync.WaitGroup
		results := make([]bool, 4)
		errs := make([]error, 4)
		for i := range results {
			wg.Go(func() { results[i], errs[i] = s.AdoptSlugSchema(ctx, x) })
		}
		wg.Wait()
		n := 0
		for i := range results {
			require.NoError(t, errs[i])
			if results[i] {
				n++
			}
		}
		assert.Equal(t, 1, n)
		assert.Equal(t, "X", readOwner(t, s, tenant.NewContext(ctx, x)))
	})
	t.Run("bad IDs and slugs are refused before any SQL", func(t *testing.T) {
		for _, bad := range []tenant.Tenant{
			{ID: "not-a-uuid", Slug: "acme"},
			{ID: tenant.NewID(), Slug: `acme"; DROP SCHEMA public CASCADE; --`},
			{ID: tenant.NewID(), Slug: ""},
			{ID: tenant.NewID(), Slug: "ACME"},
		} {
			_, err := s.AdoptSlugSchema(ctx, bad)
			assert.ErrorIs(t, err, sqlscope.ErrIdentifier, "%+v", bad)
		}
	})
}
