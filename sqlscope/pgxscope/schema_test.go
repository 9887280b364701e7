package pgxscope_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/internal/testenv"
	"github.com/tenantwall/tenantwall/sqlscope"
	"github.com/tenantwall/tenantwall/sqlscope/pgxscope"
	"github.com/tenantwall/tenantwall/tenant"
	"github.com/tenantwall/tenantwall/tenant/tenanttest"
)

func TestSchemaTx(t *testing.T) {
	ctx := context.Background()
	url, db := testenv.PostgresDB(t)
	schemas, err := sqlscope.NewSchemas(db)
	require.NoError(t, err)
	a, b := tenanttest.NewTenant(tenanttest.RandomSlug("acme")), tenanttest.NewTenant(tenanttest.RandomSlug("globex"))
	// Different shapes on purpose: a cached description would mis-decode.
	_, err = schemas.Migrate(ctx, []tenant.Tenant{a}, []sqlscope.Migration{{ID: "1", SQL: `CREATE TABLE items (name text); INSERT INTO items VALUES ('a-item')`}}, nil)
	require.NoError(t, err)
	_, err = schemas.Migrate(ctx, []tenant.Tenant{b}, []sqlscope.Migration{{ID: "1", SQL: `CREATE TABLE items (n int, name text); INSERT INTO items VALUES (7, 'b-item')`}}, nil)
	require.NoError(t, err)
	scope, _ := pgxscope.New()

	cached, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer cached.Close(ctx)
	err = scope.SchemaTx(tenant.NewContext(ctx, a), cached, schemas, func(pgx.Tx) error { return nil })
	assert.ErrorIs(t, err, pgxscope.ErrStatementCache)

	cfg, err := pgx.ParseConfig(url)
	require.NoError(t, err)
	cfg.DefaultQueryExecMode = pgx.QueryExecModeDescribeExec
	conn, err := pgx.ConnectConfig(ctx, cfg)
	require.NoError(t, err)
	defer conn.Close(ctx)
	read := func(tn tenant.Tenant) []any {
		var row []any
		require.NoError(t, scope.SchemaTx(tenant.NewContext(ctx, tn), conn, schemas, func(tx pgx.Tx) error {
			rows, err := tx.Query(ctx, `SELECT * FROM items`)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				v, err := rows.Values()
				if err != nil {
					return err
				}
				row = append(row, v...)
			}
			return rows.Err()
		}))
		return row
	}
	for range 2 { // the same SQL text, alternating tenants
		assert.Equal(t, []any{"a-item"}, read(a))
		assert.Equal(t, []any{int32(7), "b-item"}, read(b))
	}
	assert.ErrorIs(t, scope.SchemaTx(ctx, conn, schemas, func(pgx.Tx) error { return nil }), tenant.ErrNoTenant)
	var sp string
	require.NoError(t, conn.QueryRow(ctx, `SHOW search_path`).Scan(&sp))
	aSchema, err := schemas.Name(a)
	require.NoError(t, err)
	assert.NotContains(t, sp, aSchema, "search_path outlived the transaction")

	t.Run("a stale tenant whose slug was reused is served in its own schema", func(t *testing.T) {
		stale := a
		a.Slug = tenanttest.RandomSlug("renamed")
		c := tenanttest.NewTenant(stale.Slug) // takes a's old slug
		_, err := schemas.Migrate(ctx, []tenant.Tenant{c}, []sqlscope.Migration{{ID: "1", SQL: `CREATE TABLE items (name text); INSERT INTO items VALUES ('c-item')`}}, nil)
		require.NoError(t, err)
		assert.Equal(t, []any{"a-item"}, read(stale))
		assert.Equal(t, []any{"a-item"}, read(a))
		assert.Equal(t, []any{"c-item"}, read(c))
	})
	t.Run("a tenant callback that commits and begins again runs in the session's search_path, unreported", func(t *testing.T) {
		// Pinned so that the documentation stays exact: the status is 'T'
		// again at the end, so SchemaTx cannot tell, and unqualified names
		// then resolve in the session's search_path (here public), which
		// no tenant owns.
		_, err := db.ExecContext(ctx, `CREATE TABLE public.items (name text)`)
		require.NoError(t, err)
		t.Cleanup(func() { _, _ = db.ExecContext(ctx, `DROP TABLE public.items`) })
		err = scope.SchemaTx(tenant.NewContext(ctx, a), conn, schemas, func(tx pgx.Tx) error {
			for _, q := range []string{`COMMIT`, `BEGIN`, `INSERT INTO items VALUES ('written by a after its end')`} {
				if _, err := tx.Exec(ctx, q); err != nil {
					return err
				}
			}
			return nil
		})
		require.NoError(t, err)
		var n int
		require.NoError(t, db.QueryRowContext(ctx, `SELECT count(*) FROM public.items`).Scan(&n))
		assert.Equal(t, 1, n, "the row went to the shared schema, not a's")
		assert.Equal(t, []any{"a-item"}, read(a))
	})
	t.Run("a tenant callback that commits is reported", func(t *testing.T) {
		err := scope.SchemaTx(tenant.NewContext(ctx, a), conn, schemas, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `COMMIT`)
			return err
		})
		assert.ErrorIs(t, err, pgxscope.ErrTransactionEnded)
		require.NoError(t, conn.QueryRow(ctx, `SHOW search_path`).Scan(&sp))
		assert.NotContains(t, sp, aSchema)
	})
}
