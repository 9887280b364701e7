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
	"github.com/tenantwall/tenantwall/tenant"
)

func TestCitusRLSSQLHasNoSubSelect(t *testing.T) {
	stmts, err := sqlscope.CitusRLSSQL("crm.leads", "")
	require.NoError(t, err)
	policy := stmts[len(stmts)-1]
	assert.Equal(t, `CREATE POLICY tenantwall_isolation ON "crm"."leads" AS PERMISSIVE FOR ALL USING (tenant_id = current_setting('tenantwall.tenant_id', true)) WITH CHECK (tenant_id = current_setting('tenantwall.tenant_id', true))`, policy)
	assert.NotContains(t, strings.ToUpper(policy), "SELECT")

	for _, bad := range []string{"x'); DROP TABLE t; --", "a b", "", "tenant.id'"} {
		if bad == "" {
			continue // the default
		}
		_, err := sqlscope.CitusRLSSQL("leads", bad)
		assert.ErrorIs(t, err, sqlscope.ErrIdentifier, "setting %q", bad)
	}
	_, err = sqlscope.CitusRLSSQL(`leads"; DROP TABLE x; --`, "")
	assert.ErrorIs(t, err, sqlscope.ErrIdentifier)
}

// TestCitusPolicyIsolatesOnPlainPostgreSQL runs the Citus form on plain
// PostgreSQL as a role row level security binds: each tenant sees and
// writes only its rows, a statement without a tenant reads and writes
// nothing, Audit accepts it, and the queries carry tenant_id = $n as
// Citus needs to route them to one shard.
func TestCitusPolicyIsolatesOnPlainPostgreSQL(t *testing.T) {
	ctx := context.Background()
	url, admin := testenv.PostgresDB(t)
	_, err := admin.ExecContext(ctx, schemaSQL)
	require.NoError(t, err)
	require.NoError(t, sqlscope.EnableCitusRLS(ctx, admin, "", "leads", "tasks"))
	role, roleURL := testenv.PostgresRole(t, admin, url)
	_, err = admin.ExecContext(ctx, `GRANT SELECT, INSERT, UPDATE, DELETE ON leads, tasks TO `+role)
	require.NoError(t, err)
	app, err := sql.Open("pgx", roleURL)
	require.NoError(t, err)
	t.Cleanup(func() { app.Close() })

	findings, err := sqlscope.Audit(ctx, app, nil)
	require.NoError(t, err)
	assert.Empty(t, findings, "Audit accepts the Citus form")

	rls, err := sqlscope.NewRLS(ctx, app, sqlscope.WithAuditor(discard{}))
	require.NoError(t, err)
	filter, err := sqlscope.NewFilter(nil, sqlscope.Postgres)
	require.NoError(t, err)
	a := tenant.NewContext(ctx, tenant.Tenant{ID: tenant.NewID()})
	b := tenant.NewContext(ctx, tenant.Tenant{ID: tenant.NewID()})
	for _, c := range []context.Context{a, b} {
		id, _ := tenant.IDFromContext(c)
		require.NoError(t, rls.Tx(c, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(c, `INSERT INTO leads (name) VALUES ($1), ($1)`, id)
			return err
		}))
	}

	t.Run("each tenant reads its rows through the filter", func(t *testing.T) {
		for _, c := range []context.Context{a, b} {
			id, _ := tenant.IDFromContext(c)
			q, args, err := filter.Bind(c, `SELECT tenant_id, name FROM leads WHERE tenant_id = {tenant}`, nil)
			require.NoError(t, err)
			assert.Contains(t, q, "tenant_id = $1", "Citus routes a query with tenant_id = $n to one shard")
			var n int
			require.NoError(t, rls.Tx(c, func(tx *sql.Tx) error {
				rows, err := tx.QueryContext(c, q, args...)
				if err != nil {
					return err
				}
				defer rows.Close()
				for rows.Next() {
					var owner, name string
					if err := rows.Scan(&owner, &name); err != nil {
						return err
					}
					if owner != id || name != id {
						return fmt.Errorf("tenant %s read a row of %s", id, owner)
					}
					n++
				}
				return rows.Err()
			}))
			assert.Equal(t, 2, n)
		}
	})
	t.Run("the policy alone hides other tenants' rows", func(t *testing.T) {
		idB, _ := tenant.IDFromContext(b)
		var n int
		require.NoError(t, rls.Tx(a, func(tx *sql.Tx) error {
			return tx.QueryRowContext(a, `SELECT count(*) FROM leads WHERE tenant_id = $1`, idB).Scan(&n)
		}))
		assert.Zero(t, n)
	})
	t.Run("a tenant cannot write another's rows", func(t *testing.T) {
		idB, _ := tenant.IDFromContext(b)
		err := rls.Tx(a, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(a, `INSERT INTO leads (tenant_id, name) VALUES ($1, 'planted')`, idB)
			return err
		})
		assert.ErrorContains(t, err, "row-level security")
		var updated int64
		require.NoError(t, rls.Tx(a, func(tx *sql.Tx) error {
			res, err := tx.ExecContext(a, `UPDATE leads SET name = 'x' WHERE tenant_id = $1`, idB)
			if err != nil {
				return err
			}
			updated, err = res.RowsAffected()
			return err
		}))
		assert.Zero(t, updated)
	})
	t.Run("without a tenant nothing is read or written", func(t *testing.T) {
		var n int
		require.NoError(t, app.QueryRowContext(ctx, `SELECT count(*) FROM leads`).Scan(&n))
		assert.Zero(t, n, "no setting: no row's tenant_id equals it")
		_, err := app.ExecContext(ctx, `SELECT set_config('tenantwall.tenant_id', '', false)`)
		require.NoError(t, err)
		require.NoError(t, app.QueryRowContext(ctx, `SELECT count(*) FROM leads`).Scan(&n))
		assert.Zero(t, n, "an empty setting: tenant_id is never empty")
		_, err = app.ExecContext(ctx, `INSERT INTO leads (name) VALUES ('orphan')`)
		assert.ErrorContains(t, err, "no tenant", "the default still raises")
		_, err = app.ExecContext(ctx, `INSERT INTO leads (tenant_id, name) VALUES ('', 'orphan')`)
		assert.Error(t, err)
	})
	t.Run("a Citus-form policy on another setting is reported", func(t *testing.T) {
		_, err := admin.ExecContext(ctx, `DROP POLICY tenantwall_isolation ON tasks;
CREATE POLICY tenantwall_isolation ON tasks USING (tenant_id = current_setting('app.tenant_id', true)) WITH CHECK (tenant_id = current_setting('app.tenant_id', true))`)
		require.NoError(t, err)
		findings, err := sqlscope.Audit(ctx, app, nil)
		require.NoError(t, err)
		assert.True(t, findings.Has(sqlscope.CheckPermissivePolicy, "public.tasks"), "%v", findings)
		assert.False(t, findings.Has(sqlscope.CheckPermissivePolicy, "public.leads"), "%v", findings)
	})
	t.Run("a Citus-form policy widened with OR is reported", func(t *testing.T) {
		_, err := admin.ExecContext(ctx, `DROP POLICY tenantwall_isolation ON tasks;
CREATE POLICY tenantwall_isolation ON tasks USING (tenant_id = current_setting('tenantwall.tenant_id', true) OR true) WITH CHECK (tenant_id = current_setting('tenantwall.tenant_id', true))`)
		require.NoError(t, err)
		findings, err := sqlscope.Audit(ctx, app, nil)
		require.NoError(t, err)
		assert.True(t, findings.Has(sqlscope.CheckPermissivePolicy, "public.tasks"), "%v", findings)
	})
}
