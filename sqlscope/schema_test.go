package sqlscope_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/internal/testenv"
	"github.com/tenantwall/tenantwall/sqlscope"
	"github.com/tenantwall/tenantwall/tenant"
	"github.com/tenantwall/tenantwall/tenant/tenanttest"
)

var leadMigrations = []sqlscope.Migration{
	{ID: "001_leads", SQL: `CREATE TABLE leads (id serial PRIMARY KEY, name text NOT NULL)`},
	{ID: "002_leads_email", SQL: `ALTER TABLE leads ADD COLUMN email text; CREATE INDEX ON leads (email)`},
}

func TestSchemaNamesRefuseInjection(t *testing.T) {
	s, err := sqlscope.NewSchemas(nil)
	require.NoError(t, err)
	name, err := s.Name("acme")
	require.NoError(t, err)
	assert.Equal(t, "tenant_acme", name)
	for _, slug := range []string{`acme"; DROP SCHEMA public CASCADE; --`, "acme.public", "../public", "ACME",
		"acme; select 1", "public", "", "acme\x00", "a'b", "xn--acme", "www", "tenant_acme"} {
		_, err := s.Name(slug)
		assert.ErrorIs(t, err, sqlscope.ErrIdentifier, "slug %q", slug)
		assert.Error(t, s.Create(context.Background(), slug), "slug %q", slug)
	}
	_, err = sqlscope.NewSchemas(nil, sqlscope.WithSchemaPrefix(`t"; --`))
	assert.ErrorIs(t, err, sqlscope.ErrIdentifier)
}

func TestSchemaPerTenant(t *testing.T) {
	ctx := context.Background()
	_, db := testenv.PostgresDB(t)
	_, err := db.Exec(`CREATE TABLE public.leads (id int, name text); INSERT INTO public.leads VALUES (1, 'public secret');
		CREATE TABLE public.secrets (v text); INSERT INTO public.secrets VALUES ('platform secret')`)
	require.NoError(t, err)
	s, err := sqlscope.NewSchemas(db)
	require.NoError(t, err)
	a, b := tenanttest.NewTenant(tenanttest.RandomSlug("acme")), tenanttest.NewTenant(tenanttest.RandomSlug("globex"))
	ctxA, ctxB := tenant.NewContext(ctx, a), tenant.NewContext(ctx, b)

	report, err := s.Migrate(ctx, []string{a.Slug, b.Slug}, leadMigrations, nil)
	require.NoError(t, err)
	for _, r := range report {
		assert.Equal(t, []string{"001_leads", "002_leads_email"}, r.Applied, r.Slug)
	}

	insert := func(ctx context.Context, name string) {
		require.NoError(t, s.Tx(ctx, func(tx *sql.Tx) error {
			_, err := tx.Exec(`INSERT INTO leads (name) VALUES ($1)`, name)
			return err
		}))
	}
	insert(ctxA, "lead of A")
	insert(ctxB, "lead of B")

	names := func(ctx context.Context) []string {
		var out []string
		require.NoError(t, s.Tx(ctx, func(tx *sql.Tx) error {
			rows, err := tx.Query(`SELECT name FROM leads ORDER BY id`)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var n string
				if err := rows.Scan(&n); err != nil {
					return err
				}
				out = append(out, n)
			}
			return rows.Err()
		}))
		return out
	}
	assert.Equal(t, []string{"lead of A"}, names(ctxA))
	assert.Equal(t, []string{"lead of B"}, names(ctxB))

	t.Run("a tenant schema sees no public table", func(t *testing.T) {
		err := s.Tx(ctxA, func(tx *sql.Tx) error {
			var v string
			return tx.QueryRow(`SELECT v FROM secrets`).Scan(&v)
		})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "does not exist")
	})
	t.Run("no tenant, no SQL", func(t *testing.T) {
		called := false
		err := s.Tx(ctx, func(*sql.Tx) error { called = true; return nil })
		assert.ErrorIs(t, err, tenant.ErrNoTenant)
		assert.False(t, called)
	})
	t.Run("search_path does not outlive the transaction", func(t *testing.T) {
		db.SetMaxOpenConns(1)
		defer db.SetMaxOpenConns(0)
		insert(ctxA, "again")
		var name string
		require.NoError(t, db.QueryRow(`SELECT name FROM leads`).Scan(&name))
		assert.Equal(t, "public secret", name, "a plain statement after a tenant transaction must see public, not the tenant")
	})
	t.Run("migrations resume and skip what is recorded", func(t *testing.T) {
		c := tenanttest.NewTenant(tenanttest.RandomSlug("late"))
		more := append(leadMigrations, sqlscope.Migration{ID: "003_status", SQL: `ALTER TABLE leads ADD COLUMN status text`})
		report, err := s.Migrate(ctx, []string{a.Slug, b.Slug, c.Slug}, more, &sqlscope.MigrateOptions{Parallelism: 2})
		require.NoError(t, err)
		assert.Equal(t, []string{"003_status"}, report[0].Applied)
		assert.Equal(t, []string{"001_leads", "002_leads_email"}, report[0].Skipped)
		assert.Equal(t, []string{"001_leads", "002_leads_email", "003_status"}, report[2].Applied)
	})
	t.Run("a failing tenant is reported and the others migrate", func(t *testing.T) {
		_, err := db.Exec(`CREATE TABLE "tenant_` + b.Slug + `".audit_log (x int)`)
		require.NoError(t, err)
		m := append(leadMigrations, sqlscope.Migration{ID: "004_audit", SQL: `CREATE TABLE audit_log (id int)`})
		report, err := s.Migrate(ctx, []string{a.Slug, b.Slug}, m, nil)
		require.ErrorIs(t, err, sqlscope.ErrMigration)
		assert.NoError(t, report[0].Err)
		assert.Equal(t, []string{"004_audit"}, report[0].Applied)
		require.Error(t, report[1].Err)
		assert.Len(t, report.Failed(), 1)
		// Fix the tenant and resume: only the failed migration runs.
		_, err = db.Exec(`DROP TABLE "tenant_` + b.Slug + `".audit_log`)
		require.NoError(t, err)
		report, err = s.Migrate(ctx, []string{a.Slug, b.Slug}, m, nil)
		require.NoError(t, err)
		assert.Empty(t, report[0].Applied)
		assert.Equal(t, []string{"004_audit"}, report[1].Applied)
	})
	t.Run("bad migration lists are refused", func(t *testing.T) {
		_, err := s.Migrate(ctx, []string{a.Slug}, []sqlscope.Migration{{ID: "x"}, {ID: "x"}}, nil)
		assert.ErrorIs(t, err, sqlscope.ErrMigration)
	})
	t.Run("rename and drop", func(t *testing.T) {
		newSlug := tenanttest.RandomSlug("renamed")
		require.NoError(t, s.Rename(ctx, a.Slug, newSlug))
		a2 := a
		a2.Slug = newSlug
		assert.Equal(t, []string{"lead of A", "again"}, names(tenant.NewContext(ctx, a2)))
		require.NoError(t, s.Drop(ctx, newSlug))
		err := s.Tx(tenant.NewContext(ctx, a2), func(tx *sql.Tx) error {
			_, err := tx.Exec(`SELECT 1 FROM leads`)
			return err
		})
		assert.Error(t, err)
		assert.False(t, errors.Is(err, tenant.ErrNoTenant))
	})
}
