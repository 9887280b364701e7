package main

import (
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/sqlscope"
)

// A legacy pair of tables in the server's own database is adopted for
// acme through the operator API: a dry run first, then the run, whose
// progress and report the operations endpoint serves.
func TestMigrateDBOperatorAPI(t *testing.T) {
	for _, mode := range []string{"sqlite", "postgres"} {
		t.Run(mode, func(t *testing.T) {
			testMigrateDBOperatorAPI(t, newServer(t, mode, "-migrate-tables", "accounts,contacts"))
		})
	}
}

func testMigrateDBOperatorAPI(t *testing.T, s *server) {
	ctx := context.Background()
	db := s.app.data.admin
	for _, q := range []string{
		`CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT NOT NULL)`,
		`CREATE TABLE contacts (id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL REFERENCES accounts (id), email TEXT NOT NULL UNIQUE)`,
		`INSERT INTO accounts VALUES (1, 'a'), (2, 'b')`,
		`INSERT INTO contacts VALUES (1, 1, 'x@example.test'), (2, 2, 'y@example.test'), (3, 2, 'z@example.test')`,
	} {
		_, err := db.ExecContext(ctx, q)
		require.NoError(t, err, q)
	}
	acme, err := s.app.tenants.BySlug(ctx, "acme")
	require.NoError(t, err)
	op := s.client(t, "platform.localhost")
	op.token = "op-secret"
	ok := map[string]any{"tenant": "acme", "tables": []string{"accounts", "contacts"}, "through": []string{"contacts.account_id"}, "batch": 2}

	code, _ := s.client(t, "platform.localhost").json("POST", "/admin/api/migrate-db/", ok)
	assert.Equal(t, http.StatusUnauthorized, code, "no operator token")
	for name, bad := range map[string]any{
		"a database URL":      map[string]any{"tenant": "acme", "tables": []string{"accounts"}, "url": "postgres://elsewhere/db"},
		"a path":              map[string]any{"tenant": "acme", "tables": []string{"accounts"}, "path": "/tmp/x.db"},
		"a schema":            map[string]any{"tenant": "acme", "tables": []string{"accounts"}, "schema": "pg_catalog"},
		"no tables":           map[string]any{"tenant": "acme"},
		"no tenant":           map[string]any{"tables": []string{"accounts"}},
		"a CRM table":         map[string]any{"tenant": "acme", "tables": []string{"leads"}},
		"the tenant registry": map[string]any{"tenant": "acme", "tables": []string{"tenantwall_tenants"}},
		"River's jobs":        map[string]any{"tenant": "acme", "tables": []string{"river_job"}},
		"an injected name":    map[string]any{"tenant": "acme", "tables": []string{`accounts"; DROP TABLE leads; --`}},
		"a quoted name":       map[string]any{"tenant": "acme", "tables": []string{"main.accounts"}},
		"through elsewhere":   map[string]any{"tenant": "acme", "tables": []string{"accounts"}, "through": []string{"contacts.account_id"}},
		"through no column":   map[string]any{"tenant": "acme", "tables": []string{"contacts"}, "through": []string{"contacts"}},
		"a negative batch":    map[string]any{"tenant": "acme", "tables": []string{"accounts"}, "batch": -1},
		"a hostile app role":  map[string]any{"tenant": "acme", "tables": []string{"accounts"}, "app_role": "x; DROP ROLE postgres"},
	} {
		code, b := op.json("POST", "/admin/api/migrate-db/", bad)
		assert.Equal(t, http.StatusBadRequest, code, "%s: %v", name, b)
	}
	code, _ = op.json("POST", "/admin/api/migrate-db/", map[string]any{"tenant": "nobody", "tables": []string{"accounts"}})
	assert.Equal(t, http.StatusNotFound, code, "unknown tenant")

	dry := map[string]any{"dry_run": true}
	for k, v := range ok {
		dry[k] = v
	}
	code, j := op.json("POST", "/admin/api/migrate-db/", dry)
	require.Equal(t, http.StatusAccepted, code, "%v", j)
	assert.Equal(t, "migrate-db", j["op"])
	res := waitOperation(t, op, j["id"].(string))["result"].(map[string]any)
	assert.Contains(t, res["statements"], "tenant_id")
	var n int
	hasTenant := `SELECT count(*) FROM pragma_table_info('contacts') WHERE name = 'tenant_id'`
	if s.app.data.dialect == sqlscope.Postgres {
		hasTenant = `SELECT count(*) FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'contacts' AND column_name = 'tenant_id'`
	}
	require.NoError(t, db.QueryRowContext(ctx, hasTenant).Scan(&n))
	assert.Zero(t, n, "a dry run changes nothing")

	code, j = op.json("POST", "/admin/api/migrate-db/", ok)
	require.Equal(t, http.StatusAccepted, code, "%v", j)
	done := waitOperation(t, op, j["id"].(string))
	require.NotNil(t, done["progress"], "progress is reported")
	assert.Equal(t, true, done["progress"].(map[string]any)["done"], "%v", done)
	assert.Equal(t, "migrate-db", done["progress"].(map[string]any)["op"])
	assert.Len(t, done["result"].(map[string]any)["tables"], 2)
	q := `SELECT count(*) FROM contacts WHERE tenant_id = ?`
	if s.app.data.dialect == sqlscope.Postgres {
		q = `SELECT count(*) FROM contacts WHERE tenant_id = $1`
	}
	require.NoError(t, db.QueryRowContext(ctx, q, acme.ID).Scan(&n))
	assert.Equal(t, 3, n, "every contact is acme's")
}

// globex is moved through the operator API to the server's configured
// target and served there; a server without a target has no endpoint.
func TestTenantMoveOperatorAPI(t *testing.T) {
	none := newServer(t, "sqlite")
	op := none.client(t, "platform.localhost")
	op.token = "op-secret"
	code, _ := op.json("POST", "/admin/api/tenants/globex/move/", nil)
	assert.Equal(t, http.StatusNotFound, code, "no target configured")

	target := t.TempDir()
	s := newServer(t, "sqlite", "-move-to-data", target)
	op = s.client(t, "platform.localhost")
	op.token = "op-secret"
	code, _ = s.client(t, "platform.localhost").json("POST", "/admin/api/tenants/globex/move/", nil)
	assert.Equal(t, http.StatusUnauthorized, code, "no operator token")
	code, _ = op.json("POST", "/admin/api/tenants/nobody/move/", nil)
	assert.Equal(t, http.StatusNotFound, code)
	code, _ = op.json("POST", "/admin/api/tenants/..%2F..%2Fetc/move/", nil)
	assert.Equal(t, http.StatusNotFound, code)

	code, j := op.json("POST", "/admin/api/tenants/globex/move/", nil)
	require.Equal(t, http.StatusAccepted, code, "%v", j)
	done := waitOperation(t, op, j["id"].(string))
	require.NotNil(t, done["progress"], "progress is reported")
	assert.Equal(t, "delete", done["progress"].(map[string]any)["op"], "the last stage is the deletion from the source")
	assert.Contains(t, done["result"].(map[string]any)["log"], "verified: nothing left")

	code, _ = s.client(t, "globex.localhost").json("GET", "/api/tenant-branding/", nil)
	assert.Equal(t, http.StatusNotFound, code, "gone from the source")
	there := startServer(t, []string{"-data", target, "-demo=false", "-bcrypt-cost", "4"})
	there.client(t, "globex.localhost").login("admin@globex.test")
}

// -migrate-tables is the allow-list of the migrate-db endpoint: it takes
// plain table names and never one of the CRM's tenant tables.
func TestMigrateTablesFlag(t *testing.T) {
	c, _, err := parseFlags("crm", []string{"-migrate-tables", " accounts, contacts,"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, []string{"accounts", "contacts"}, c.migrateTables)
	for _, bad := range []string{"leads", "accounts,users", `a"b`, "public.accounts", "Accounts"} {
		_, _, err := parseFlags("crm", []string{"-migrate-tables", bad}, io.Discard)
		assert.Error(t, err, "-migrate-tables %q", bad)
	}
	c, _, err = parseFlags("crm", nil, io.Discard)
	require.NoError(t, err)
	assert.Empty(t, c.migrateTables, "no table is adoptable unless named")
}
