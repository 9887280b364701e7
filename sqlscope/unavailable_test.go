package sqlscope_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/internal/testenv"
	"github.com/tenantwall/tenantwall/sqlscope"
	"github.com/tenantwall/tenantwall/tenant"
)

// TestIsUnavailableOnServerErrors raises each SQLSTATE on the real server,
// so the classifier sees exactly what the driver returns for it.
func TestIsUnavailableOnServerErrors(t *testing.T) {
	_, db := testenv.PostgresDB(t)
	for _, tc := range []struct {
		code string
		want bool
	}{
		{"08006", true}, // connection failure
		{"08001", true}, // client cannot establish connection
		{"53300", true}, // too many connections
		{"53200", true}, // out of memory
		{"53100", true}, // disk full
		{"58030", true}, // I/O error
		{"57P01", true}, // admin shutdown
		{"57P02", true}, // crash shutdown
		{"57P03", true}, // cannot connect now
		{"57014", true}, // statement timeout or cancel
		{"55P03", true}, // lock not available
		{"40001", true}, // serialization failure
		{"40P01", true}, // deadlock detected
		{"23505", false},
		{"23503", false},
		{"42501", false}, // insufficient privilege: a bug, not an outage
		{"42601", false},
		{"22P02", false},
		{"28P01", false}, // wrong password: configuration, not an outage
		{"57000", false}, // the class 57 catch-all is not in the list
		{"40000", false},
		{"55000", false},
		{"P0001", false}, // a plain RAISE EXCEPTION
		{"XX000", false},
	} {
		t.Run(fmt.Sprintf("SQLSTATE %s is unavailable: %v", tc.code, tc.want), func(t *testing.T) {
			_, err := db.ExecContext(context.Background(),
				`DO $$ BEGIN RAISE EXCEPTION 'raised' USING ERRCODE = '`+tc.code+`'; END $$`)
			require.Error(t, err)
			assert.Equal(t, tc.want, sqlscope.IsUnavailable(err), "%v", err)
			assert.Equal(t, tc.want, sqlscope.IsUnavailable(fmt.Errorf("crm: list leads: %w", err)), "wrapped")
		})
	}
}

func TestIsUnavailableOnConnectionFaults(t *testing.T) {
	url, db := testenv.PostgresDB(t)
	ctx := context.Background()

	t.Run("a backend terminated under its transaction is unavailable", func(t *testing.T) {
		conn, err := db.Conn(ctx)
		require.NoError(t, err)
		defer conn.Close()
		_, err = conn.ExecContext(ctx, `SELECT pg_terminate_backend(pg_backend_pid())`)
		require.Error(t, err)
		assert.True(t, sqlscope.IsUnavailable(err), "%v", err)
		_, err = conn.ExecContext(ctx, `SELECT 1`)
		require.Error(t, err, "the connection is gone")
		assert.True(t, sqlscope.IsUnavailable(err), "%v", err)
	})

	t.Run("a role out of connection slots is unavailable", func(t *testing.T) {
		name, roleURL := testenv.PostgresRole(t, db, url)
		_, err := db.ExecContext(ctx, `ALTER ROLE `+name+` CONNECTION LIMIT 0`)
		require.NoError(t, err)
		app, err := sql.Open("pgx", roleURL)
		require.NoError(t, err)
		defer app.Close()
		err = app.PingContext(ctx)
		require.Error(t, err)
		assert.True(t, sqlscope.IsUnavailable(err), "%v", err)
	})

	t.Run("a refused connection is unavailable", func(t *testing.T) {
		dead, err := sql.Open("pgx", "postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=2")
		require.NoError(t, err)
		defer dead.Close()
		err = dead.PingContext(ctx)
		require.Error(t, err)
		assert.True(t, sqlscope.IsUnavailable(err), "%v", err)
	})

	t.Run("a query past the request's deadline is unavailable", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		_, err := db.ExecContext(ctx, `SELECT pg_sleep(5)`)
		require.Error(t, err)
		assert.True(t, sqlscope.IsUnavailable(err), "%v", err)
	})

	t.Run("a wait for a pool connection past the deadline is unavailable", func(t *testing.T) {
		pool, err := sql.Open("pgx", url)
		require.NoError(t, err)
		defer pool.Close()
		pool.SetMaxOpenConns(1)
		held, err := pool.Conn(ctx)
		require.NoError(t, err)
		defer held.Close()
		ctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		_, err = pool.ExecContext(ctx, `SELECT 1`)
		require.Error(t, err, "the pool's one connection is held: the query waits, then gives up")
		assert.True(t, sqlscope.IsUnavailable(err), "%v", err)
	})

	t.Run("a statement error is not unavailable", func(t *testing.T) {
		_, err := db.ExecContext(ctx, `SELECT * FROM no_such_table`)
		require.Error(t, err)
		assert.False(t, sqlscope.IsUnavailable(err), "%v", err)
	})

	t.Run("a cancelled query is not unavailable: the caller left", func(t *testing.T) {
		ctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := db.ExecContext(ctx, `SELECT 1`)
		require.Error(t, err)
		assert.False(t, sqlscope.IsUnavailable(err), "%v", err)
	})
}

func TestIsUnavailableOnGoErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil is not unavailable", nil, false},
		{"no rows is not unavailable", sql.ErrNoRows, false},
		{"a missing tenant is not unavailable", tenant.ErrNoTenant, false},
		{"a refused statement is not unavailable", sqlscope.ErrUnscoped, false},
		{"a cancelled context is not unavailable", context.Canceled, false},
		{"io.EOF alone is not unavailable", io.EOF, false},
		{"an unknown error is not unavailable", errors.New("boom"), false},
		{"a malformed SQLSTATE is not unavailable", stateErr("08"), false},
		{"a lowercase class is not unavailable", stateErr("0800x"), false},
		{"a SafeToRetry false is not unavailable", retryErr(false), false},
		{"a deadline is unavailable", context.DeadlineExceeded, true},
		{"a bad connection is unavailable", driver.ErrBadConn, true},
		{"a closed connection is unavailable", sql.ErrConnDone, true},
		{"a connection cut mid-message is unavailable", fmt.Errorf("receive: %w", io.ErrUnexpectedEOF), true},
		{"a SafeToRetry true is unavailable", retryErr(true), true},
		{"a connection pgx found closed is unavailable", fmt.Errorf("query: %w", pgconn.ErrConnClosed), true},
		{"a wrapped deadline is unavailable", fmt.Errorf("a: %w", fmt.Errorf("b: %w", context.DeadlineExceeded)), true},
		{"a joined error with a bad connection is unavailable", errors.Join(errors.New("x"), driver.ErrBadConn), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, sqlscope.IsUnavailable(tc.err))
		})
	}
}

type stateErr string

func (e stateErr) Error() string    { return "state " + string(e) }
func (e stateErr) SQLState() string { return string(e) }

type retryErr bool

func (e retryErr) Error() string     { return "retry" }
func (e retryErr) SafeToRetry() bool { return bool(e) }
