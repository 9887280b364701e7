package sqlscope_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/internal/testenv"
	"github.com/tenantwall/tenantwall/sqlscope"
)

// TestAuditFindsEachMisconfiguration plants one misconfiguration per case,
// each in its own schema of one database, and checks Audit reports it (and
// that the correct baseline schema stays clean).
func TestAuditFindsEachMisconfiguration(t *testing.T) {
	ctx := context.Background()
	url, admin := testenv.PostgresDB(t)
	role, roleURL := testenv.PostgresRole(t, admin, url)
	app, err := sql.Open("pgx", roleURL)
	require.NoError(t, err)
	t.Cleanup(func() { app.Close() })

	// isolated creates schema s with a correctly isolated table s.items
	// (and s.parents), then runs plant as admin.
	isolated := func(t *testing.T, s, plant string) {
		t.Helper()
		_, err := admin.ExecContext(ctx, fmt.Sprintf(`
CREATE SCHEMA %[1]s;
GRANT USAGE ON SCHEMA %[1]s TO %[2]s;
CREATE TABLE %[1]s.parents (id int, tenant_id text NOT NULL, PRIMARY KEY (tenant_id, id));
CREATE TABLE %[1]s.items (id int PRIMARY KEY, tenant_id text NOT NULL, parent_id int,
	FOREIGN KEY (tenant_id, parent_id) REFERENCES %[1]s.parents (tenant_id, id));`, s, role))
		require.NoError(t, err)
		require.NoError(t, sqlscope.EnableRLS(ctx, admin, "", s+".parents", s+".items"))
		if plant != "" {
			_, err = admin.ExecContext(ctx, strings.NewReplacer("{s}", s, "{role}", role).Replace(plant))
			require.NoError(t, err, plant)
		}
	}

	t.Run("a correct schema is clean", func(t *testing.T) {
		isolated(t, "clean", "")
		fs, err := sqlscope.Audit(ctx, app, &sqlscope.AuditOptions{Schemas: []string{"clean"}})
		require.NoError(t, err)
		assert.Empty(t, fs)
	})

	cases := []struct {
		name  string
		plant string
		check sqlscope.Check
	}{
		{"a table without RLS", `ALTER TABLE {s}.items DISABLE ROW LEVEL SECURITY`, sqlscope.CheckRLSDisabled},
		{"a table without FORCE", `ALTER TABLE {s}.items NO FORCE ROW LEVEL SECURITY`, sqlscope.CheckRLSNotForced},
		{"a table without a policy", `DROP POLICY tenantwall_isolation ON {s}.items`, sqlscope.CheckNoPolicy},
		{"a policy without WITH CHECK", `DROP POLICY tenantwall_isolation ON {s}.items;
CREATE POLICY p ON {s}.items FOR ALL USING (tenant_id = (SELECT tenantwall.current_tenant()))`, sqlscope.CheckNoWithCheck},
		{"a policy that admits an unset tenant", `DROP POLICY tenantwall_isolation ON {s}.items;
CREATE POLICY p ON {s}.items FOR ALL
	USING (current_setting('tenantwall.tenant_id', true) IS NULL OR tenant_id = current_setting('tenantwall.tenant_id', true))
	WITH CHECK (tenant_id = (SELECT tenantwall.current_tenant()))`, sqlscope.CheckPermissivePolicy},
		{"an extra permissive policy that ignores the tenant", `CREATE POLICY everyone ON {s}.items FOR SELECT USING (true)`, sqlscope.CheckPermissivePolicy},
		{"a nullable tenant column", `ALTER TABLE {s}.items ALTER COLUMN tenant_id DROP NOT NULL`, sqlscope.CheckNullableTenant},
		{"a foreign key without tenant_id", `CREATE TABLE {s}.notes (id int PRIMARY KEY, tenant_id text NOT NULL, item_id int REFERENCES {s}.items (id))`, sqlscope.CheckForeignKey},
		{"the application role owns a tenant table", `ALTER TABLE {s}.items OWNER TO {role}`, sqlscope.CheckOwner},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := fmt.Sprintf("plant%d", i)
			isolated(t, s, c.plant)
			fs, err := sqlscope.Audit(ctx, app, &sqlscope.AuditOptions{Schemas: []string{s}})
			require.NoError(t, err)
			assert.True(t, fs.Has(c.check, ""), "want %s, got %v", c.check, fs)
			require.Error(t, fs.Err())
			assert.ErrorIs(t, fs.Err(), sqlscope.ErrUnsafe)
			assert.Contains(t, fs.Err().Error(), string(c.check))
		})
	}

	t.Run("a superuser application role", func(t *testing.T) {
		fs, err := sqlscope.Audit(ctx, admin, &sqlscope.AuditOptions{Schemas: []string{"clean"}})
		require.NoError(t, err)
		assert.True(t, fs.Has(sqlscope.CheckSuperuser, ""), "%v", fs)
	})
	t.Run("a BYPASSRLS application role", func(t *testing.T) {
		bypass, _ := testenv.PostgresRole(t, admin, url)
		_, err := admin.ExecContext(ctx, `ALTER ROLE `+bypass+` BYPASSRLS`)
		require.NoError(t, err)
		fs, err := sqlscope.Audit(ctx, admin, &sqlscope.AuditOptions{Role: bypass, Schemas: []string{"clean"}})
		require.NoError(t, err)
		assert.True(t, fs.Has(sqlscope.CheckBypassRLS, ""), "%v", fs)
		assert.False(t, fs.Has(sqlscope.CheckSuperuser, ""))
	})
	t.Run("an unknown role is an error, not a clean audit", func(t *testing.T) {
		_, err := sqlscope.Audit(ctx, admin, &sqlscope.AuditOptions{Role: "no_such_role_x"})
		assert.Error(t, err)
	})
}

// TestAuditProbesTheGuard replaces the guard function every policy calls
// with unsafe versions and checks Audit notices, though the policies
// themselves still read correctly.
func TestAuditProbesTheGuard(t *testing.T) {
	ctx := context.Background()
	url, admin := testenv.PostgresDB(t)
	_, err := admin.ExecContext(ctx, `CREATE TABLE items (id int PRIMARY KEY, tenant_id text NOT NULL)`)
	require.NoError(t, err)
	require.NoError(t, sqlscope.EnableRLS(ctx, admin, "", "items"))
	role, roleURL := testenv.PostgresRole(t, admin, url)
	_, err = admin.ExecContext(ctx, `GRANT SELECT ON items TO `+role)
	require.NoError(t, err)
	app, err := sql.Open("pgx", roleURL)
	require.NoError(t, err)
	t.Cleanup(func() { app.Close() })

	audit := func(t *testing.T, opts *sqlscope.AuditOptions) sqlscope.Findings {
		t.Helper()
		fs, err := sqlscope.Audit(ctx, app, opts)
		require.NoError(t, err)
		return fs
	}
	require.Empty(t, audit(t, nil), "the installed guard passes the probe")

	t.Run("a guard probed for another setting", func(t *testing.T) {
		fs := audit(t, &sqlscope.AuditOptions{Setting: "app.other"})
		require.True(t, fs.Has(sqlscope.CheckGuard, ""), "%v", fs)
		assert.Contains(t, fs.Err().Error(), "AuditOptions.Setting")
	})
	t.Run("a hostile setting name", func(t *testing.T) {
		_, err := sqlscope.Audit(ctx, app, &sqlscope.AuditOptions{Setting: "a.b'; DROP TABLE items; --"})
		assert.ErrorIs(t, err, sqlscope.ErrIdentifier)
	})
	t.Run("through a caller's transaction the probe is skipped and the setting kept", func(t *testing.T) {
		tx, err := app.BeginTx(ctx, nil)
		require.NoError(t, err)
		defer tx.Rollback()
		_, err = tx.ExecContext(ctx, `SELECT set_config('tenantwall.tenant_id', 'caller', true)`)
		require.NoError(t, err)
		fs, err := sqlscope.Audit(ctx, tx, &sqlscope.AuditOptions{Setting: "app.other"})
		require.NoError(t, err)
		assert.False(t, fs.Has(sqlscope.CheckGuard, ""), "%v", fs)
		var v, path string
		require.NoError(t, tx.QueryRowContext(ctx, `SELECT current_setting('tenantwall.tenant_id'), current_setting('search_path')`).Scan(&v, &path))
		assert.Equal(t, "caller", v)
		assert.Equal(t, `"$user", public`, path, "the audit's pinned search_path is undone")
		var n int
		require.NoError(t, tx.QueryRowContext(ctx, `SELECT count(*) FROM items`).Scan(&n), "the caller's transaction is still usable")
	})

	for _, c := range []struct{ name, body, detail string }{
		{"a guard that returns empty instead of raising", `SELECT coalesce(current_setting('tenantwall.tenant_id', true), '')`, "instead of raising"},
		{"a guard that returns a constant", `SELECT 'acme'::text`, "instead of the setting"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := admin.ExecContext(ctx, `CREATE OR REPLACE FUNCTION tenantwall.current_tenant() RETURNS text LANGUAGE sql STABLE AS $fn$`+c.body+`$fn$`)
			require.NoError(t, err)
			fs := audit(t, nil)
			require.True(t, fs.Has(sqlscope.CheckGuard, ""), "%v", fs)
			assert.Contains(t, fs.Err().Error(), c.detail)
			assert.False(t, fs.Has(sqlscope.CheckPermissivePolicy, ""), "the policies still read correctly; only the probe can tell")
		})
	}
	t.Run("reinstalling the guard clears the finding", func(t *testing.T) {
		require.NoError(t, sqlscope.EnableRLS(ctx, admin, "", "items"))
		assert.Empty(t, audit(t, nil))
	})
}
