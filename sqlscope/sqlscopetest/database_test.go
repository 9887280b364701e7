package sqlscopetest_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/internal/testenv"
	"github.com/tenantwall/tenantwall/sqlscope"
	"github.com/tenantwall/tenantwall/sqlscope/sqlscopetest"
	"github.com/tenantwall/tenantwall/tenant"
)

func newDatabase(t *testing.T) *sqlscopetest.Database {
	return sqlscopetest.NewDatabase(t, testenv.PostgresURL(), sqlscopetest.WithRequired(testenv.Required()))
}

func TestTheApplicationRoleIsUnprivileged(t *testing.T) {
	db := newDatabase(t)
	ctx := context.Background()
	var super, bypass, createRole, createDB bool
	require.NoError(t, db.App.QueryRowContext(ctx,
		`SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = current_user`).
		Scan(&super, &bypass, &createRole, &createDB))
	assert.False(t, super, "superuser")
	assert.False(t, bypass, "BYPASSRLS")
	assert.False(t, createRole, "CREATEROLE")
	assert.False(t, createDB, "CREATEDB")

	var member int
	require.NoError(t, db.App.QueryRowContext(ctx,
		`SELECT count(*) FROM pg_auth_members WHERE member = (SELECT oid FROM pg_roles WHERE rolname = current_user)`).Scan(&member))
	assert.Zero(t, member, "the application role is a member of no role")

	_, err := db.App.ExecContext(ctx, `CREATE TABLE mine (id int)`)
	assert.Error(t, err, "the application role cannot create tables, so it never owns one")
}

func TestRowLevelSecurityAppliesToTheApplicationRole(t *testing.T) {
	db := newDatabase(t)
	ctx := context.Background()
	_, err := db.Owner.ExecContext(ctx, `CREATE TABLE leads (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, tenant_id text NOT NULL, name text NOT NULL)`)
	require.NoError(t, err)
	require.NoError(t, sqlscope.EnableRLS(ctx, db.Owner, "", "leads"))
	findings, err := sqlscope.Audit(ctx, db.App, nil)
	require.NoError(t, err)
	require.NoError(t, findings.Err(), "a database laid out by NewDatabase audits clean")

	rls, err := sqlscope.NewRLS(ctx, db.App)
	require.NoError(t, err)
	a, b := tenant.NewContext(ctx, tenant.Tenant{ID: tenant.NewID()}), tenant.NewContext(ctx, tenant.Tenant{ID: tenant.NewID()})
	require.NoError(t, rls.Tx(a, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(a, `INSERT INTO leads (name) VALUES ('acme''s lead')`)
		return err
	}))
	count := func(ctx context.Context) (n int) {
		require.NoError(t, rls.Tx(ctx, func(tx *sql.Tx) error {
			return tx.QueryRowContext(ctx, `SELECT count(*) FROM leads`).Scan(&n)
		}))
		return n
	}
	assert.Equal(t, 1, count(a))
	assert.Equal(t, 0, count(b), "another tenant sees none of the rows")
}

func TestEverythingIsDroppedAtCleanup(t *testing.T) {
	var d *sqlscopetest.Database
	t.Run("a test using a database", func(t *testing.T) { d = newDatabase(t) })
	require.NotNil(t, d)
	admin, err := sql.Open("pgx", testenv.PostgresURL())
	require.NoError(t, err)
	defer admin.Close()
	var n int
	require.NoError(t, admin.QueryRow(`SELECT count(*) FROM pg_database WHERE datname = $1`, d.Name).Scan(&n))
	assert.Zero(t, n, "database dropped")
	require.NoError(t, admin.QueryRow(`SELECT count(*) FROM pg_roles WHERE rolname IN ($1, $2)`, d.OwnerRole, d.AppRole).Scan(&n))
	assert.Zero(t, n, "roles dropped")
}

func TestAnUnreachableServerSkips(t *testing.T) {
	var skipped bool
	t.Run("unreachable", func(t *testing.T) {
		defer func() { skipped = t.Skipped() }()
		sqlscopetest.NewDatabase(t, "postgres://nobody@127.0.0.1:1/x?sslmode=disable&connect_timeout=2")
	})
	assert.True(t, skipped)
}
