package sqlscope_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
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

func TestSchemaNamesComeFromTheID(t *testing.T) {
	s, err := sqlscope.NewSchemas(nil)
	require.NoError(t, err)
	x := tenant.Tenant{ID: "0c646b52-25da-42ce-8d9e-c8e42aaebe49", Slug: "acme"}
	name, err := s.Name(x)
	require.NoError(t, err)
	assert.Equal(t, "tenant_0c646b52_25da_42ce_8d9e_c8e42aaebe49", name)

	t.Run("the slug plays no part", func(t *testing.T) {
		renamed := x
		renamed.Slug = "globex"
		n, err := s.Name(renamed)
		require.NoError(t, err)
		assert.Equal(t, name, n)
		other := tenanttest.NewTenant("acme")
		n, err = s.Name(other)
		require.NoError(t, err)
		assert.NotEqual(t, name, n, "two tenants with one slug must have two schemas")
	})
	t.Run("IDs that are not canonical UUIDs are refused", func(t *testing.T) {
		for _, id := range []string{
			"", "acme", "tenant_acme", "public", "pg_catalog",
			"0C646B52-25DA-42CE-8D9E-C8E42AAEBE49",   // upper case: another spelling of the same UUID
			"0c646b5225da42ce8d9ec8e42aaebe49",       // no hyphens
			"{0c646b52-25da-42ce-8d9e-c8e42aaebe49}", // braces
			"urn:uuid:0c646b52-25da-42ce-8d9e-c8e42aaebe49",
			"0c646b52-25da-42ce-8d9e-c8e42aaebe49\n",
			" 0c646b52-25da-42ce-8d9e-c8e42aaebe49",
			"0c646b52-25da-42ce-8d9e-c8e42aaebe4",
			"0c646b52-25da-42ce-8d9e-c8e42aaebe49a",
			"0c646b52_25da_42ce_8d9e_c8e42aaebe49",
			"0c646b52-25da-42ce-8d9e-c8e42aaebe4g",
			`0c646b52-25da-42ce-8d9e-c8e42aaeb"; DROP SCHEMA public CASCADE; --`,
			"0c646b52-25da-42ce-8d9e-c8e42aaebe4\x00",
			"0c646b52-25da-42ce-8d9e-c8e42aaebe\u0669\u0669", // Arabic-Indic digits
			"0c646b52\u201025da-42ce-8d9e-c8e42aaebe49",      // a Unicode hyphen
		} {
			_, err := s.Name(tenant.Tenant{ID: id, Slug: "acme"})
			assert.ErrorIs(t, err, sqlscope.ErrIdentifier, "id %q", id)
			assert.ErrorIs(t, err, tenant.ErrInvalidID, "id %q", id)
			assert.ErrorIs(t, s.Create(context.Background(), tenant.Tenant{ID: id}), sqlscope.ErrIdentifier, "id %q", id)
		}
	})
	t.Run("prefixes are identifiers short enough for the whole name to fit", func(t *testing.T) {
		for _, p := range []string{`t"; --`, "", "1t", "t.x", "tenant schema", strings.Repeat("t", 28)} {
			_, err := sqlscope.NewSchemas(nil, sqlscope.WithSchemaPrefix(p))
			assert.ErrorIs(t, err, sqlscope.ErrIdentifier, "prefix %q", p)
		}
		long, err := sqlscope.NewSchemas(nil, sqlscope.WithSchemaPrefix(strings.Repeat("t", 27)))
		require.NoError(t, err)
		n, err := long.Name(x)
		require.NoError(t, err)
		assert.Len(t, n, 63)
	})
}

// FuzzSchemaName: every accepted ID gives a valid identifier of at most 63
// bytes that no other ID gives, and that no slug can spell.
func FuzzSchemaName(f *testing.F) {
	for _, seed := range []string{"0c646b52-25da-42ce-8d9e-c8e42aaebe49", "acme", "", "0C646B52-25DA-42CE-8D9E-C8E42AAEBE49", "0c646b5225da42ce8d9ec8e42aaebe49"} {
		f.Add(seed)
	}
	s, err := sqlscope.NewSchemas(nil)
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, id string) {
		name, err := s.Name(tenant.Tenant{ID: id})
		if err != nil {
			require.ErrorIs(t, err, sqlscope.ErrIdentifier)
			require.Error(t, tenant.ValidateID(id))
			return
		}
		require.NoError(t, tenant.ValidateID(id))
		_, err = sqlscope.QuoteIdent(name)
		require.NoError(t, err)
		require.LessOrEqual(t, len(name), 63)
		rest, ok := strings.CutPrefix(name, sqlscope.DefaultSchemaPrefix)
		require.True(t, ok)
		require.Equal(t, id, strings.ReplaceAll(rest, "_", "-"), "the name must give back the ID: one schema per ID")
		require.Error(t, tenant.ValidateSlug(rest), "a slug could spell schema %q", name)
	})
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

	report, err := s.Migrate(ctx, []tenant.Tenant{a, b}, leadMigrations, nil)
	require.NoError(t, err)
	for _, r := range report {
		assert.Equal(t, []string{"001_leads", "002_leads_email"}, r.Applied, r.ID)
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
		report, err := s.Migrate(ctx, []tenant.Tenant{a, b, c}, more, &sqlscope.MigrateOptions{Parallelism: 2})
		require.NoError(t, err)
		assert.Equal(t, []string{"003_status"}, report[0].Applied)
		assert.Equal(t, []string{"001_leads", "002_leads_email"}, report[0].Skipped)
		assert.Equal(t, []string{"001_leads", "002_leads_email", "003_status"}, report[2].Applied)
	})
	t.Run("a failing tenant is reported and the others migrate", func(t *testing.T) {
		bSchema, err := s.Name(b)
		require.NoError(t, err)
		_, err = db.Exec(`CREATE TABLE "` + bSchema + `".audit_log (x int)`)
		require.NoError(t, err)
		m := append(leadMigrations, sqlscope.Migration{ID: "004_audit", SQL: `CREATE TABLE audit_log (id int)`})
		report, err := s.Migrate(ctx, []tenant.Tenant{a, b}, m, nil)
		require.ErrorIs(t, err, sqlscope.ErrMigration)
		assert.NoError(t, report[0].Err)
		assert.Equal(t, []string{"004_audit"}, report[0].Applied)
		require.Error(t, report[1].Err)
		assert.Len(t, report.Failed(), 1)
		// Fix the tenant and resume: only the failed migration runs.
		_, err = db.Exec(`DROP TABLE "` + bSchema + `".audit_log`)
		require.NoError(t, err)
		report, err = s.Migrate(ctx, []tenant.Tenant{a, b}, m, nil)
		require.NoError(t, err)
		assert.Empty(t, report[0].Applied)
		assert.Equal(t, []string{"004_audit"}, report[1].Applied)
	})
	t.Run("bad migration lists are refused", func(t *testing.T) {
		_, err := s.Migrate(ctx, []tenant.Tenant{a}, []sqlscope.Migration{{ID: "x"}, {ID: "x"}}, nil)
		assert.ErrorIs(t, err, sqlscope.ErrMigration)
	})
	t.Run("a slug change keeps the schema, and drop removes it", func(t *testing.T) {
		a2 := a
		a2.Slug = tenanttest.RandomSlug("renamed")
		assert.Equal(t, []string{"lead of A", "again"}, names(tenant.NewContext(ctx, a2)))
		require.NoError(t, s.Drop(ctx, a2))
		err := s.Tx(tenant.NewContext(ctx, a), func(tx *sql.Tx) error {
			_, err := tx.Exec(`SELECT 1 FROM leads`)
			return err
		})
		assert.Error(t, err)
		assert.False(t, errors.Is(err, tenant.ErrNoTenant))
	})
	t.Run("a tenant with a non-canonical ID is refused before any SQL", func(t *testing.T) {
		called := false
		bad := b
		bad.ID = strings.ToUpper(b.ID)
		err := s.Tx(tenant.NewContext(ctx, bad), func(*sql.Tx) error { called = true; return nil })
		assert.ErrorIs(t, err, sqlscope.ErrIdentifier)
		assert.False(t, called)
	})
}
