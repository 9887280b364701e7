package jobs_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/internal/testenv"
	"github.com/tenantwall/tenantwall/jobs"
	"github.com/tenantwall/tenantwall/sqlscope"
	"github.com/tenantwall/tenantwall/sqlscope/pgxscope"
	"github.com/tenantwall/tenantwall/tenant"
)

// newPostgresBedWith makes a database of its own with River's tables migrated
// by the owner, a notes table under row level security, and runs River and
// the jobs as an application role that is neither superuser, nor
// BYPASSRLS, nor owner of a table. Jobs read notes with no WHERE clause at
// all: only row level security keeps other tenants' rows out.
func newPostgresBedWith(t *testing.T, store *tenant.MemStore, more configure, opts ...jobs.Option) *bed[pgx.Tx] {
	t.Helper()
	ctx := context.Background()
	adminURL, adminDB := testenv.PostgresDB(t)
	adminPool, err := pgxpool.New(ctx, adminURL)
	require.NoError(t, err)
	t.Cleanup(adminPool.Close)
	m, err := rivermigrate.New(riverpgxv5.New(adminPool), nil)
	require.NoError(t, err)
	_, err = m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	require.NoError(t, err)
	_, err = adminDB.ExecContext(ctx, `CREATE TABLE notes (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, tenant_id text NOT NULL, body text NOT NULL)`)
	require.NoError(t, err)
	require.NoError(t, sqlscope.EnableRLS(ctx, adminDB, "", "notes"))
	role, roleURL := testenv.PostgresRole(t, adminDB, adminURL)
	for _, g := range []string{
		`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ` + role,
		`GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ` + role,
	} {
		_, err = adminDB.ExecContext(ctx, g)
		require.NoError(t, err)
	}
	pool, err := pgxpool.New(ctx, roleURL)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	scope, err := pgxscope.New()
	require.NoError(t, err)

	rows := func(ctx context.Context) ([]string, string, error) {
		var out []string
		err := scope.Tx(ctx, pool, func(tx pgx.Tx) error {
			r, err := tx.Query(ctx, `SELECT body FROM notes`)
			if err != nil {
				return err
			}
			out, err = pgx.CollectRows(r, pgx.RowTo[string])
			return err
		})
		if err != nil {
			return nil, "", err
		}
		// Outside any transaction the setting must be gone: nothing of
		// this job's tenant stays on the connection for the next job.
		var left string
		err = pool.QueryRow(ctx, `SELECT coalesce(current_setting('`+sqlscope.DefaultSetting+`', true), '')`).Scan(&left)
		return out, left, err
	}
	b := newBed(t, riverpgxv5.New(pool), store, rows, more, opts...)
	b.tx = func(ctx context.Context, fn func(pgx.Tx) error) error { return scope.Tx(ctx, pool, fn) }
	b.addNote = func(ctx context.Context, tx pgx.Tx, body string) error {
		_, err := tx.Exec(ctx, `INSERT INTO notes (body) VALUES ($1)`, body)
		return err
	}
	b.countNotes = func(t *testing.T) int {
		var n int
		require.NoError(t, adminDB.QueryRow(`SELECT count(*) FROM notes`).Scan(&n))
		return n
	}
	return b
}

func TestPostgres(t *testing.T) { runSuite(t, newPostgresBedWith) }
