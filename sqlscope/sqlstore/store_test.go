package sqlstore_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/tenantwall/tenantwall/internal/testenv"
	"github.com/tenantwall/tenantwall/sqlscope"
	"github.com/tenantwall/tenantwall/sqlscope/sqlstore"
	"github.com/tenantwall/tenantwall/tenant"
	"github.com/tenantwall/tenantwall/tenant/tenanttest"
)

func TestStoreOnSQLite(t *testing.T) {
	tenanttest.RunStoreTests(t, func(t *testing.T) tenant.Store {
		db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "tenants.db")+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		s, err := sqlstore.New(db, sqlscope.SQLite)
		require.NoError(t, err)
		require.NoError(t, s.Migrate(context.Background()))
		return s
	})
}

func TestStoreOnPostgres(t *testing.T) {
	url, db := testenv.PostgresDB(t)
	tenanttest.RunStoreTests(t, func(t *testing.T) tenant.Store {
		// One schema per subtest in the test's database.
		schema := testenv.Name("store")
		_, err := db.Exec(`CREATE SCHEMA ` + schema)
		require.NoError(t, err)
		conn, err := sql.Open("pgx", withSearchPath(url, schema))
		require.NoError(t, err)
		t.Cleanup(func() { conn.Close() })
		s, err := sqlstore.New(conn, sqlscope.Postgres)
		require.NoError(t, err)
		require.NoError(t, s.Migrate(context.Background()))
		return s
	})
}

func TestStoreRefusesOtherDialects(t *testing.T) {
	_, err := sqlstore.New(nil, sqlscope.MySQL)
	require.Error(t, err)
}

func withSearchPath(url, schema string) string {
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	return url + sep + "search_path=" + schema
}
