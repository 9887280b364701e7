package pgxscope_test

import (
	"context"
	"database/sql"
	"net"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/sqlscope"
	"github.com/tenantwall/tenantwall/sqlscope/pgxscope"

	_ "modernc.org/sqlite"
)

// stdlibDB opens the application role through pgx's database/sql driver,
// one connection, whose writes f counts.
func stdlibDB(t *testing.T, f *fixture) *sql.DB {
	t.Helper()
	cfg, err := pgx.ParseConfig(f.roleURL)
	require.NoError(t, err)
	dialer := &net.Dialer{}
	cfg.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dialer.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return countingConn{Conn: c, writes: f.writes}, nil
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

// TestStdlibUnitSavesARoundTrip counts the round trips of a unit with one
// query: BEGIN and set_config travel together with pgxscope.Stdlib.
func TestStdlibUnitSavesARoundTrip(t *testing.T) {
	f := newFixture(t, 1)
	db := stdlibDB(t, f)
	ctx := context.Background()
	rls, err := sqlscope.NewRLS(ctx, db)
	require.NoError(t, err)
	plain, err := sqlscope.NewUnits(db, sqlscope.WithRLS(rls))
	require.NoError(t, err)
	piped, err := sqlscope.NewUnits(db, sqlscope.WithRLS(rls), sqlscope.WithConnBeginner(pgxscope.Stdlib{}))
	require.NoError(t, err)
	var n int
	unit := func(us *sqlscope.Units) func() {
		return func() {
			require.NoError(t, us.Run(f.ctxA, func(ctx context.Context) error {
				u, _ := sqlscope.UnitFromContext(ctx)
				return u.QueryRowContext(ctx, `SELECT count(*) FROM leads`).Scan(&n)
			}))
		}
	}
	for range 2 { // prepare the statements
		unit(plain)()
		unit(piped)()
	}
	assert.Equal(t, int64(4), f.count(unit(plain)), "database/sql: BEGIN, set_config, SELECT, COMMIT")
	assert.Equal(t, int64(3), f.count(unit(piped)), "Stdlib: BEGIN+set_config, SELECT, COMMIT")
	assert.Equal(t, 100, n, "tenant A's rows only")
}

// TestStdlibUnitEndedByItsStatements: a unit whose statements ended the
// transaction is an error, and the connection is left with no tenant.
func TestStdlibUnitEndedByItsStatements(t *testing.T) {
	f := newFixture(t, 1)
	db := stdlibDB(t, f)
	ctx := context.Background()
	rls, err := sqlscope.NewRLS(ctx, db)
	require.NoError(t, err)
	us, err := sqlscope.NewUnits(db, sqlscope.WithRLS(rls), sqlscope.WithConnBeginner(pgxscope.Stdlib{}))
	require.NoError(t, err)
	err = us.Run(f.ctxA, func(ctx context.Context) error {
		u, _ := sqlscope.UnitFromContext(ctx)
		_, err := u.ExecContext(ctx, `COMMIT`)
		return err
	})
	assert.ErrorIs(t, err, pgxscope.ErrTransactionEnded)
	var setting sql.NullString
	require.NoError(t, db.QueryRow(`SELECT nullif(current_setting('tenantwall.tenant_id', true), '')`).Scan(&setting))
	assert.False(t, setting.Valid, "no tenant left on the connection")
	t.Run("a connection that is not pgx's is refused", func(t *testing.T) {
		_, err := pgxscope.Stdlib{}.BeginScoped(ctx, nil, nil, sqlscope.DefaultSetting, f.a.ID)
		assert.ErrorIs(t, err, pgxscope.ErrBatcher)
		lite, err := sql.Open("sqlite", ":memory:")
		require.NoError(t, err)
		defer lite.Close()
		conn, err := lite.Conn(ctx)
		require.NoError(t, err)
		defer conn.Close()
		_, err = pgxscope.Stdlib{}.BeginScoped(ctx, conn, nil, sqlscope.DefaultSetting, f.a.ID)
		assert.ErrorIs(t, err, pgxscope.ErrBatcher)
	})
}
