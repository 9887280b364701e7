package adopt_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/tenantwall/tenantwall/sqlscope"
	"github.com/tenantwall/tenantwall/sqlscope/adopt"
)

// legacySQLite is the single-tenant schema of legacy on SQLite, with what
// a rebuild must keep: a CHECK, a default, AUTOINCREMENT, a plain index, a
// view, and a foreign key into a shared table that is not adopted.
func legacySQLite(t testing.TB, accounts, contacts, deals int) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "legacy.db")+"?_pragma=foreign_keys(1)&_pragma=busy_timeout(5000)")
	require.NoError(t, err)
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	_, err = db.Exec(fmt.Sprintf(`
CREATE TABLE countries (code TEXT PRIMARY KEY, name TEXT NOT NULL);
INSERT INTO countries VALUES ('de', 'Germany'), ('us', 'United States');
CREATE TABLE accounts (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, region TEXT NOT NULL DEFAULT 'us',
	country TEXT REFERENCES countries (code));
CREATE TABLE contacts (id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	email TEXT NOT NULL UNIQUE, name TEXT NOT NULL);
CREATE TABLE deals (id INTEGER PRIMARY KEY, contact_id INTEGER NOT NULL, amount INTEGER NOT NULL CHECK (amount > 0),
	FOREIGN KEY (contact_id) REFERENCES contacts (id));
CREATE INDEX contacts_account_idx ON contacts (account_id);
CREATE VIEW big_deals AS SELECT id, amount FROM deals WHERE amount > 1000;
WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < %[4]d)
INSERT INTO accounts (id, name, region, country) SELECT n, 'account ' || n, CASE WHEN n %% 2 = 0 THEN 'eu' ELSE 'us' END,
	CASE WHEN n %% 2 = 0 THEN 'de' ELSE 'us' END FROM g WHERE n <= %[1]d;
WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < %[4]d)
INSERT INTO contacts SELECT n, n %% %[1]d + 1, 'c' || n || '@example.test', 'contact ' || n FROM g WHERE n <= %[2]d;
WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < %[4]d)
INSERT INTO deals SELECT n, n %% %[2]d + 1, n FROM g WHERE n <= %[3]d;`, accounts, contacts, deals, max(accounts, contacts, deals)))
	require.NoError(t, err)
	return db
}

func TestAdoptSQLite(t *testing.T) {
	ctx := context.Background()
	const accounts, contacts, deals = 100, 3_000, 2_000
	db := legacySQLite(t, accounts, contacts, deals)
	s, err := adopt.InspectSQLite(ctx, db, "accounts", "contacts", "deals")
	require.NoError(t, err)
	plan, err := adopt.New(s, assignments())
	require.NoError(t, err)
	var dry strings.Builder
	_, err = plan.WriteTo(&dry)
	require.NoError(t, err)
	assert.Contains(t, dry.String(), "BEGIN IMMEDIATE;")
	assert.Contains(t, dry.String(), "PRAGMA foreign_key_check;")

	rep, err := adopt.Run(ctx, db, plan)
	require.NoError(t, err)
	require.NoError(t, rep.Err())
	want := map[string]int64{"accounts": accounts, "contacts": contacts, "deals": deals}
	for _, tr := range rep.Tables {
		assert.Equal(t, want[tr.Table], tr.RowsBefore, tr.Table)
		assert.Equal(t, want[tr.Table], tr.RowsAfter, tr.Table)
		assert.Zero(t, tr.NoTenant, tr.Table)
	}

	t.Run("every row has its assignment's tenant", func(t *testing.T) {
		var bad int64
		require.NoError(t, db.QueryRow(`SELECT
			(SELECT count(*) FROM accounts WHERE tenant_id IS NOT CASE region WHEN 'eu' THEN ? ELSE ? END) +
			(SELECT count(*) FROM contacts c JOIN accounts a ON a.id = c.account_id WHERE c.tenant_id IS NOT a.tenant_id) +
			(SELECT count(*) FROM deals d JOIN contacts c ON c.id = d.contact_id WHERE d.tenant_id IS NOT c.tenant_id)`, euID, usID).Scan(&bad))
		assert.Zero(t, bad)
	})
	t.Run("email is unique per tenant", func(t *testing.T) {
		// contact 2 (account 3) is us; account 2 is eu, account 1 us.
		_, err := db.Exec(`INSERT INTO contacts (account_id, email, name, tenant_id) VALUES (2, 'c2@example.test', 'eu twin', ?)`, euID)
		assert.NoError(t, err)
		_, err = db.Exec(`INSERT INTO contacts (account_id, email, name, tenant_id) VALUES (1, 'c2@example.test', 'us twin', ?)`, usID)
		assert.ErrorContains(t, err, "UNIQUE constraint failed")
	})
	t.Run("a foreign key cannot point into another tenant", func(t *testing.T) {
		_, err := db.Exec(`INSERT INTO deals (contact_id, amount, tenant_id) VALUES (2, 1, ?)`, euID) // contact 2 is us
		assert.ErrorContains(t, err, "FOREIGN KEY constraint failed")
		_, err = db.Exec(`INSERT INTO deals (contact_id, amount, tenant_id) VALUES (2, 1, ?)`, usID)
		assert.NoError(t, err)
	})
	t.Run("what the table had is kept", func(t *testing.T) {
		_, err := db.Exec(`INSERT INTO deals (contact_id, amount, tenant_id) VALUES (2, -5, ?)`, usID)
		assert.ErrorContains(t, err, "CHECK constraint failed", "the CHECK is copied")
		_, err = db.Exec(`INSERT INTO deals (contact_id, amount, tenant_id) VALUES (2, 1, '')`)
		assert.ErrorContains(t, err, "CHECK constraint failed", "tenant_id must not be empty")
		_, err = db.Exec(`INSERT INTO accounts (name, country, tenant_id) VALUES ('new', 'xx', ?)`, usID)
		assert.ErrorContains(t, err, "FOREIGN KEY constraint failed", "the key into the shared table is kept")
		res, err := db.Exec(`INSERT INTO accounts (name, tenant_id) VALUES ('new', ?)`, usID)
		require.NoError(t, err)
		id, _ := res.LastInsertId()
		assert.Equal(t, int64(accounts+1), id, "AUTOINCREMENT continues")
		var region string
		require.NoError(t, db.QueryRow(`SELECT region FROM accounts WHERE id = ?`, id).Scan(&region))
		assert.Equal(t, "us", region, "the default is kept")
		var idx int
		require.NoError(t, db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'contacts_account_idx'`).Scan(&idx))
		assert.Equal(t, 1, idx)
		var n int
		require.NoError(t, db.QueryRow(`SELECT count(*) FROM big_deals`).Scan(&n), "the view still reads deals")
		assert.Equal(t, deals-1000, n)
		var cascaded int
		_, err = db.Exec(`INSERT INTO contacts (account_id, email, name, tenant_id) VALUES (?, 'gone@example.test', 'gone', ?)`, id, usID)
		require.NoError(t, err)
		_, err = db.Exec(`DELETE FROM accounts WHERE id = ?`, id)
		require.NoError(t, err)
		require.NoError(t, db.QueryRow(`SELECT count(*) FROM contacts WHERE account_id = ?`, id).Scan(&cascaded))
		assert.Zero(t, cascaded, "ON DELETE CASCADE is kept")
	})
	t.Run("the adopted tables are refused by a second inspection", func(t *testing.T) {
		_, err := adopt.InspectSQLite(ctx, db, "accounts")
		assert.ErrorIs(t, err, adopt.ErrUnsupported)
	})
}

func TestAdoptSQLiteIsAtomic(t *testing.T) {
	ctx := context.Background()
	t.Run("a cancelled run changes nothing", func(t *testing.T) {
		db := legacySQLite(t, 10, 100, 100)
		s, err := adopt.InspectSQLite(ctx, db, "accounts", "contacts", "deals")
		require.NoError(t, err)
		p, err := adopt.New(s, assignments())
		require.NoError(t, err)
		c, cancel := context.WithCancel(ctx)
		_, err = adopt.Run(c, db, p, adopt.WithProgress(func(pr adopt.Progress) {
			if pr.Done && pr.Table == "contacts" {
				cancel()
			}
		}))
		require.Error(t, err)
		assertUnchanged(t, db)
		rep, err := adopt.Run(ctx, db, p)
		require.NoError(t, err, "the rerun starts again")
		require.NoError(t, rep.Err())
	})
	t.Run("rows without a tenant stop the run and change nothing", func(t *testing.T) {
		db := legacySQLite(t, 10, 100, 100)
		s, err := adopt.InspectSQLite(ctx, db, "accounts", "contacts", "deals")
		require.NoError(t, err)
		a := assignments()
		a["deals"] = adopt.Expression(`CASE WHEN amount > 50 THEN '` + euID + `' END`)
		p, err := adopt.New(s, a)
		require.NoError(t, err)
		_, err = adopt.Run(ctx, db, p)
		require.ErrorIs(t, err, adopt.ErrUnassigned)
		assert.ErrorContains(t, err, "deals has 50 row(s)")
		assertUnchanged(t, db)
	})
}

func assertUnchanged(t *testing.T, db *sql.DB) {
	t.Helper()
	var n int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM pragma_table_xinfo('accounts') WHERE name = 'tenant_id'`).Scan(&n))
	assert.Zero(t, n)
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name LIKE 'tenantwall%'`).Scan(&n))
	assert.Zero(t, n)
	var fk bool
	require.NoError(t, db.QueryRow(`PRAGMA foreign_keys`).Scan(&fk))
	assert.True(t, fk, "foreign key enforcement is restored")
}

func TestInspectSQLiteRefuses(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct{ name, ddl, want string }{
		{"a collation", `CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT COLLATE NOCASE)`, "COLLATE"},
		{"a generated column", `CREATE TABLE t (id INTEGER PRIMARY KEY, a INT, b INT GENERATED ALWAYS AS (a + 1))`, "generated"},
		{"a trigger", `CREATE TABLE t (id INTEGER PRIMARY KEY, a INT); CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; END`, "trigger"},
		{"a unique index outside a constraint", `CREATE TABLE t (id INTEGER PRIMARY KEY, email TEXT); CREATE UNIQUE INDEX t_email ON t (email)`, "backs no constraint"},
		{"a deferrable foreign key", `CREATE TABLE p (id INTEGER PRIMARY KEY); CREATE TABLE t (id INTEGER PRIMARY KEY, p_id INT REFERENCES p (id) DEFERRABLE INITIALLY DEFERRED)`, "DEFERRABLE"},
		{"a named constraint", `CREATE TABLE t (id INTEGER PRIMARY KEY, email TEXT, CONSTRAINT u UNIQUE (email))`, "CONSTRAINT"},
		{"a comment", "CREATE TABLE t (id INTEGER PRIMARY KEY, a INT -- note\n)", "comment"},
		{"a composite primary key", `CREATE TABLE t (a INT, b INT, PRIMARY KEY (a, b))`, "one column"},
		{"a WITHOUT ROWID table", `CREATE TABLE t (id INTEGER PRIMARY KEY, a INT) WITHOUT ROWID`, "WITHOUT"},
		{"a table with tenant_id", `CREATE TABLE t (id INTEGER PRIMARY KEY, tenant_id TEXT)`, "tenant_id"},
		{"an expression in a unique constraint", `CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, UNIQUE (a COLLATE NOCASE))`, "COLLATE"},
		{"a default it cannot read", `CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT DEFAULT ('x' COLLATE NOCASE))`, "default"},
	} {
		t.Run("it refuses "+tc.name, func(t *testing.T) {
			db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "x.db"))
			require.NoError(t, err)
			defer db.Close()
			_, err = db.Exec(tc.ddl)
			require.NoError(t, err)
			_, err = adopt.InspectSQLite(ctx, db)
			assert.ErrorIs(t, err, adopt.ErrUnsupported)
			assert.ErrorContains(t, err, tc.want)
		})
	}
	t.Run("it refuses a table referenced from one not adopted", func(t *testing.T) {
		db := legacySQLite(t, 1, 1, 1)
		_, err := adopt.InspectSQLite(ctx, db, "accounts")
		assert.ErrorIs(t, err, adopt.ErrUnsupported)
		assert.ErrorContains(t, err, "contacts, which is not adopted")
	})
	t.Run("it refuses SQL text that a hand-built schema smuggles", func(t *testing.T) {
		s := adopt.Schema{Dialect: sqlscope.SQLite, Name: "main", Tables: []adopt.Table{{
			Name: "t", PrimaryKey: adopt.Key{Name: "t_pkey", Columns: []string{"id"}},
			Columns: []adopt.Column{{Name: "id", Type: "INTEGER"}, {Name: "a", Type: "TEXT", Default: "1); DROP TABLE t; --"}},
		}}}
		_, err := adopt.New(s, map[string]adopt.Assignment{"t": adopt.Constant(euID)})
		assert.ErrorIs(t, err, adopt.ErrUnsupported)
		s.Tables[0].Columns[1].Default = ""
		s.Tables[0].Checks = []string{"(1) OR (1"}
		_, err = adopt.New(s, map[string]adopt.Assignment{"t": adopt.Constant(euID)})
		assert.ErrorIs(t, err, adopt.ErrUnsupported)
		s.Tables[0].Checks = nil
		s.Tables[0].Indexes = []string{"DROP TABLE t"}
		_, err = adopt.New(s, map[string]adopt.Assignment{"t": adopt.Constant(euID)})
		assert.ErrorIs(t, err, adopt.ErrUnsupported)
	})
}
