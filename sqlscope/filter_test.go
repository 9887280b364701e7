package sqlscope_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/tenantwall/tenantwall/internal/testenv"
	"github.com/tenantwall/tenantwall/sqlscope"
	"github.com/tenantwall/tenantwall/tenant"
	"github.com/tenantwall/tenantwall/tenant/tenanttest"
)

func TestFilterBind(t *testing.T) {
	id := "3f0c9a52-6a7e-4c4e-9a35-2d1f0e8b7c61"
	ctx := tenant.NewContext(context.Background(), tenant.Tenant{ID: id, Slug: "acme"})
	good := []struct {
		d     sqlscope.Dialect
		in    string
		args  []any
		want  string
		wargs []any
	}{
		{sqlscope.SQLite, "SELECT * FROM leads WHERE tenant_id = {tenant} AND id = ?", []any{7},
			"SELECT * FROM leads WHERE tenant_id = ? AND id = ?", []any{id, 7}},
		{sqlscope.SQLite, "SELECT * FROM leads WHERE id = ? AND tenant_id = {tenant}", []any{7},
			"SELECT * FROM leads WHERE id = ? AND tenant_id = ?", []any{7, id}},
		{sqlscope.MySQL, "UPDATE leads SET name = ? WHERE tenant_id = {tenant} AND note = 'it''s {tenant}?' AND id = ?", []any{"n", 3},
			"UPDATE leads SET name = ? WHERE tenant_id = ? AND note = 'it''s {tenant}?' AND id = ?", []any{"n", id, 3}},
		{sqlscope.Postgres, "SELECT * FROM a JOIN b ON b.tenant_id = {tenant} WHERE a.tenant_id = {tenant} AND a.id = $1", []any{1},
			"SELECT * FROM a JOIN b ON b.tenant_id = $2 WHERE a.tenant_id = $2 AND a.id = $1", []any{1, id}},
		{sqlscope.Postgres, "SELECT $fn${tenant}$fn$, x FROM t WHERE tenant_id = {tenant}", nil,
			"SELECT $fn${tenant}$fn$, x FROM t WHERE tenant_id = $1", []any{id}},
	}
	for _, c := range good {
		f, err := sqlscope.NewFilter(nil, c.d)
		require.NoError(t, err)
		q, args, err := f.Bind(ctx, c.in, c.args)
		require.NoError(t, err, c.in)
		assert.Equal(t, c.want, q)
		assert.Equal(t, c.wargs, args)
	}

	unscoped := []struct {
		d  sqlscope.Dialect
		in string
	}{
		{sqlscope.SQLite, "SELECT * FROM leads"},
		{sqlscope.SQLite, "SELECT * FROM leads WHERE name = '{tenant}'"},
		{sqlscope.SQLite, `SELECT * FROM leads WHERE "{tenant}" = 1`},
		{sqlscope.SQLite, "SELECT * FROM leads -- WHERE tenant_id = {tenant}"},
		{sqlscope.SQLite, "SELECT * FROM leads /* tenant_id = {tenant} */"},
		{sqlscope.MySQL, "SELECT * FROM leads # tenant_id = {tenant}"},
		{sqlscope.MySQL, "SELECT * FROM leads WHERE `{tenant}` = 1"},
		{sqlscope.Postgres, "SELECT $$ {tenant} $$ FROM leads"},
	}
	for _, c := range unscoped {
		f, _ := sqlscope.NewFilter(nil, c.d)
		_, _, err := f.Bind(ctx, c.in, nil)
		assert.ErrorIs(t, err, sqlscope.ErrUnscoped, "%v: %s", c.d, c.in)
	}

	malformed := []string{
		"SELECT * FROM leads WHERE tenant_id = {tenant} AND name = 'unterminated",
		"SELECT * FROM leads WHERE tenant_id = {tenant} /* open",
		"SELECT * FROM leads WHERE tenant_id = {tenant} AND id = ?1",
		"SELECT * FROM leads WHERE tenant_id = {tenant} AND id = ? AND x = ?",
		"SELECT * FROM leads WHERE tenant_id = {TENANT} AND id = ?",
	}
	f, _ := sqlscope.NewFilter(nil, sqlscope.SQLite)
	for _, q := range malformed {
		_, _, err := f.Bind(ctx, q, []any{1})
		assert.ErrorIs(t, err, sqlscope.ErrStatement, q)
	}
	_, _, err := f.Bind(ctx, "SELECT 1 WHERE {tenant} = {tenant}", []any{1})
	assert.ErrorIs(t, err, sqlscope.ErrStatement, "too many arguments")
	_, _, err = f.Bind(context.Background(), "SELECT 1 FROM t WHERE tenant_id = {tenant}", nil)
	assert.ErrorIs(t, err, tenant.ErrNoTenant)
	_, err = sqlscope.NewFilter(nil, sqlscope.Dialect(0))
	assert.Error(t, err)
}

func FuzzBind(f *testing.F) {
	for _, s := range []string{"SELECT 1 FROM t WHERE tenant_id = {tenant} AND id = ?", "'{tenant}'", "-- {tenant}\n{tenant}",
		"$a${tenant}$a$ {tenant}", "/* */ {tenant} ?", "`x` {tenant}", `E'\'{tenant}' {tenant}`, "/* /* */ {tenant} */ {tenant}",
		"U&'x' UESCAPE '!' {tenant}", "[{tenant}] {tenant}", "E'x'\n'\\' {tenant}' {tenant}"} {
		f.Add(s, uint8(1))
	}
	id := "3f0c9a52-6a7e-4c4e-9a35-2d1f0e8b7c61"
	ctx := tenant.NewContext(context.Background(), tenant.Tenant{ID: id, Slug: "acme"})
	f.Fuzz(func(t *testing.T, q string, d uint8) {
		dialect := sqlscope.Dialect(d%3 + 1)
		flt, _ := sqlscope.NewFilter(nil, dialect)
		nq := strings.Count(q, "?")
		args := make([]any, nq)
		for i := range args {
			args[i] = i
		}
		out, outArgs, err := flt.Bind(ctx, q, args)
		if err != nil {
			if !errors.Is(err, sqlscope.ErrUnscoped) && !errors.Is(err, sqlscope.ErrStatement) {
				t.Fatalf("Bind(%q) refused it without a sentinel: %v", q, err)
			}
			return
		}
		// The tenant is always bound: as an argument, never as text.
		found := false
		for _, a := range outArgs {
			if a == id {
				found = true
			}
		}
		if !found {
			t.Fatalf("Bind(%q) bound no tenant: %q %v", q, out, outArgs)
		}
		if strings.Contains(out, id) {
			t.Fatalf("Bind(%q) wrote the tenant into the SQL text", q)
		}
	})
}

// filterEndToEnd runs the source plan's cross-tenant test through the row
// filter on a real database.
func filterEndToEnd(t *testing.T, db *sql.DB, d sqlscope.Dialect, ddl string) {
	t.Helper()
	ctx := context.Background()
	_, err := db.Exec(ddl)
	require.NoError(t, err)
	f, err := sqlscope.NewFilter(db, d)
	require.NoError(t, err)
	a, b := tenanttest.NewTenant("acme"), tenanttest.NewTenant("globex")
	ctxA, ctxB := tenant.NewContext(ctx, a), tenant.NewContext(ctx, b)

	_, err = f.Insert(ctxA, "leads", []string{"id", "name"}, 1, "A's lead")
	require.NoError(t, err)
	_, err = f.Insert(ctxB, "leads", []string{"id", "name"}, 2, "Secret Lead")
	require.NoError(t, err)

	var owner string
	require.NoError(t, f.QueryRow(ctxA, "SELECT tenant_id FROM leads WHERE tenant_id = {tenant} AND id = "+ph(d, 1), 1).Scan(&owner))
	assert.Equal(t, a.ID, owner, "a lead created under A is assigned to A")

	var name string
	err = f.QueryRow(ctxA, "SELECT name FROM leads WHERE tenant_id = {tenant} AND id = "+ph(d, 1), 2).Scan(&name)
	assert.ErrorIs(t, err, sql.ErrNoRows, "A read B's lead")
	res, err := f.Exec(ctxA, "UPDATE leads SET name = 'pwned' WHERE tenant_id = {tenant} AND id = "+ph(d, 1), 2)
	require.NoError(t, err)
	n, _ := res.RowsAffected()
	assert.Zero(t, n)
	res, err = f.Exec(ctxA, "DELETE FROM leads WHERE tenant_id = {tenant} AND id = "+ph(d, 1), 2)
	require.NoError(t, err)
	n, _ = res.RowsAffected()
	assert.Zero(t, n)

	_, err = f.Insert(ctxA, "leads", []string{"id", "tenant_id", "name"}, 3, b.ID, "planted")
	assert.ErrorIs(t, err, sqlscope.ErrTenantColumn)
	_, err = f.Insert(ctxA, "leads", []string{"id", "TENANT_ID", "name"}, 3, b.ID, "planted")
	assert.ErrorIs(t, err, sqlscope.ErrTenantColumn)
	_, err = f.Query(ctxA, "SELECT * FROM leads")
	assert.ErrorIs(t, err, sqlscope.ErrUnscoped)
	_, err = f.Insert(ctx, "leads", []string{"id", "name"}, 4, "x")
	assert.ErrorIs(t, err, tenant.ErrNoTenant)

	rows, err := f.Query(ctxB, "SELECT name FROM leads WHERE tenant_id = {tenant}")
	require.NoError(t, err)
	var got []string
	for rows.Next() {
		require.NoError(t, rows.Scan(&name))
		got = append(got, name)
	}
	require.NoError(t, rows.Err())
	rows.Close()
	assert.Equal(t, []string{"Secret Lead"}, got)

	// Inside a transaction.
	tx, err := db.Begin()
	require.NoError(t, err)
	_, err = f.On(tx).Insert(ctxA, "leads", []string{"id", "name"}, 5, "in tx")
	require.NoError(t, err)
	require.NoError(t, tx.Commit())
}

func ph(d sqlscope.Dialect, n int) string {
	if d == sqlscope.Postgres {
		return "$1"
	}
	return "?"
}

func TestFilterOnSQLite(t *testing.T) {
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "crm.db"))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	filterEndToEnd(t, db, sqlscope.SQLite, `CREATE TABLE leads (id INTEGER PRIMARY KEY, tenant_id TEXT NOT NULL CHECK (tenant_id <> ''), name TEXT NOT NULL)`)
}

func TestFilterOnPostgres(t *testing.T) {
	_, db := testenv.PostgresDB(t)
	filterEndToEnd(t, db, sqlscope.Postgres, `CREATE TABLE leads (id int PRIMARY KEY, tenant_id text NOT NULL CHECK (tenant_id <> ''), name text NOT NULL)`)
}

func TestInsertReturning(t *testing.T) {
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "r.db"))
	require.NoError(t, err)
	defer db.Close()
	_, err = db.Exec(`CREATE TABLE items (id INTEGER PRIMARY KEY AUTOINCREMENT, tenant_id TEXT NOT NULL, name TEXT NOT NULL)`)
	require.NoError(t, err)
	f, _ := sqlscope.NewFilter(db, sqlscope.SQLite)
	a := tenanttest.NewTenant("acme")
	ctx := tenant.NewContext(context.Background(), a)
	var id int64
	var owner string
	require.NoError(t, f.InsertReturning(ctx, "items", []string{"name"}, []any{"x"}, "id", "tenant_id").Scan(&id, &owner))
	assert.Positive(t, id)
	assert.Equal(t, a.ID, owner)
	assert.Error(t, f.InsertReturning(ctx, "items", []string{"name"}, []any{"x"}).Scan(&id))
	assert.ErrorIs(t, f.InsertReturning(ctx, "items", []string{"name"}, []any{"x"}, "id; DROP TABLE items").Scan(&id), sqlscope.ErrIdentifier)
	assert.ErrorIs(t, f.InsertReturning(context.Background(), "items", []string{"name"}, []any{"x"}, "id").Scan(&id), tenant.ErrNoTenant)
}

func TestRebind(t *testing.T) {
	assert.Equal(t, "SELECT $1, $2", sqlscope.Rebind(sqlscope.Postgres, "SELECT ?, ?"))
	assert.Equal(t, "SELECT ?, ?", sqlscope.Rebind(sqlscope.SQLite, "SELECT ?, ?"))
	assert.Equal(t, "SELECT 1", sqlscope.Rebind(sqlscope.Postgres, "SELECT 1"))
}
