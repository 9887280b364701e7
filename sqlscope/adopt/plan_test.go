package adopt_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/internal/testenv"
	"github.com/tenantwall/tenantwall/sqlscope"
	"github.com/tenantwall/tenantwall/sqlscope/adopt"
)

// small is a hand-built two-table schema: accounts, and contacts with a
// foreign key into it.
func small() adopt.Schema {
	return adopt.Schema{Name: "public", Tables: []adopt.Table{
		{Name: "accounts", PrimaryKey: adopt.Key{Name: "accounts_pkey", Columns: []string{"id"}}},
		{Name: "contacts", PrimaryKey: adopt.Key{Name: "contacts_pkey", Columns: []string{"id"}},
			Uniques: []adopt.Key{{Name: "contacts_email_key", Columns: []string{"email"}}},
			ForeignKeys: []adopt.ForeignKey{{Name: "contacts_account_id_fkey", Columns: []string{"account_id"},
				RefTable: "accounts", RefColumns: []string{"id"}}}},
	}}
}

func TestNewRefuses(t *testing.T) {
	ok := map[string]adopt.Assignment{"accounts": adopt.Constant(euID), "contacts": adopt.Through("account_id", "accounts")}
	tests := []struct {
		name   string
		schema func(s *adopt.Schema)
		assign func(a map[string]adopt.Assignment)
		want   error
	}{
		{"a table without an assignment", nil, func(a map[string]adopt.Assignment) { delete(a, "contacts") }, adopt.ErrAssignment},
		{"an assignment for a table not adopted", nil, func(a map[string]adopt.Assignment) { a["users"] = adopt.Constant(euID) }, adopt.ErrAssignment},
		{"the zero assignment", nil, func(a map[string]adopt.Assignment) { a["accounts"] = adopt.Assignment{} }, adopt.ErrAssignment},
		{"a tenant ID that is not canonical", nil, func(a map[string]adopt.Assignment) { a["accounts"] = adopt.Constant("acme') OR true --") }, adopt.ErrAssignment},
		{"an uppercase tenant ID", nil, func(a map[string]adopt.Assignment) { a["accounts"] = adopt.Constant(strings.ToUpper(euID)) }, adopt.ErrAssignment},
		{"an expression with a semicolon", nil, func(a map[string]adopt.Assignment) { a["accounts"] = adopt.Expression(`'x'; DROP TABLE accounts`) }, adopt.ErrAssignment},
		{"an expression that closes the function body", nil, func(a map[string]adopt.Assignment) {
			a["accounts"] = adopt.Expression(`'x' $tenantwall_adopt$`)
		}, adopt.ErrAssignment},
		{"an empty expression", nil, func(a map[string]adopt.Assignment) { a["accounts"] = adopt.Expression("  ") }, adopt.ErrAssignment},
		{"a join path without its foreign key", nil, func(a map[string]adopt.Assignment) { a["contacts"] = adopt.Through("owner_id", "accounts") }, adopt.ErrAssignment},
		{"a join path into a table not adopted", nil, func(a map[string]adopt.Assignment) { a["contacts"] = adopt.Through("account_id", "users") }, adopt.ErrAssignment},
		{"join paths in a cycle", func(s *adopt.Schema) {
			s.Tables[0].ForeignKeys = []adopt.ForeignKey{{Name: "accounts_main_fkey", Columns: []string{"main_contact"}, RefTable: "contacts", RefColumns: []string{"id"}}}
		}, func(a map[string]adopt.Assignment) { a["accounts"] = adopt.Through("main_contact", "contacts") }, adopt.ErrAssignment},
		{"a table name that needs quoting", func(s *adopt.Schema) { s.Tables[0].Name = `accounts"; DROP TABLE x; --` }, nil, sqlscope.ErrIdentifier},
		{"a schema name that needs quoting", func(s *adopt.Schema) { s.Name = "public schema" }, nil, sqlscope.ErrIdentifier},
		{"a column name that needs quoting", func(s *adopt.Schema) { s.Tables[1].Uniques[0].Columns = []string{"e mail"} }, nil, sqlscope.ErrIdentifier},
		{"a constraint name that needs quoting", func(s *adopt.Schema) { s.Tables[1].ForeignKeys[0].Name = `fk"` }, nil, sqlscope.ErrIdentifier},
		{"a composite primary key", func(s *adopt.Schema) { s.Tables[0].PrimaryKey.Columns = []string{"a", "b"} }, nil, adopt.ErrUnsupported},
		{"a key that already has tenant_id", func(s *adopt.Schema) { s.Tables[1].Uniques[0].Columns = []string{"tenant_id", "email"} }, nil, adopt.ErrUnsupported},
		{"a table listed twice", func(s *adopt.Schema) { s.Tables = append(s.Tables, s.Tables[0]) }, nil, adopt.ErrUnsupported},
		{"no tables", func(s *adopt.Schema) { s.Tables = nil }, func(a map[string]adopt.Assignment) { clear(a) }, adopt.ErrUnsupported},
		{"ON UPDATE SET NULL, which would clear tenant_id", func(s *adopt.Schema) { s.Tables[1].ForeignKeys[0].OnUpdate = "SET NULL" }, nil, adopt.ErrUnsupported},
		{"an action it does not know", func(s *adopt.Schema) { s.Tables[1].ForeignKeys[0].OnDelete = "CASCADE; DROP TABLE x" }, nil, adopt.ErrUnsupported},
		{"a foreign key to columns that are not a key", func(s *adopt.Schema) { s.Tables[1].ForeignKeys[0].RefColumns = []string{"name"} }, nil, adopt.ErrUnsupported},
		{"foreign key column lists of different lengths", func(s *adopt.Schema) { s.Tables[1].ForeignKeys[0].RefColumns = []string{"id", "x"} }, nil, adopt.ErrUnsupported},
	}
	for _, tc := range tests {
		t.Run("it refuses "+tc.name, func(t *testing.T) {
			s := small()
			a := map[string]adopt.Assignment{}
			for k, v := range ok {
				a[k] = v
			}
			if tc.schema != nil {
				tc.schema(&s)
			}
			if tc.assign != nil {
				tc.assign(a)
			}
			p, err := adopt.New(s, a)
			assert.ErrorIs(t, err, tc.want)
			assert.Nil(t, p)
		})
	}
	t.Run("it refuses invalid options", func(t *testing.T) {
		for _, o := range []adopt.Option{adopt.WithBatchSize(0), adopt.WithBatchSize(2_000_000), adopt.WithLockTimeout(0), adopt.WithSetting("no-dot")} {
			_, err := adopt.New(small(), ok, o)
			assert.Error(t, err)
		}
	})
}

func TestDryRun(t *testing.T) {
	s := small()
	s.Tables[1].ForeignKeys[0].OnDelete = "SET NULL"
	p, err := adopt.New(s, map[string]adopt.Assignment{"accounts": adopt.Constant(euID), "contacts": adopt.Through("account_id", "accounts")})
	require.NoError(t, err)
	var b bytes.Buffer
	_, err = p.WriteTo(&b)
	require.NoError(t, err)
	out := b.String()
	n := 0
	for _, st := range p.Steps() {
		for _, s := range st.Statements {
			i := strings.Index(out[n:], s.SQL+";\n")
			require.GreaterOrEqual(t, i, 0, "the dry run must print %q after what precedes it", s.SQL)
			n += i + len(s.SQL)
		}
	}
	assert.Contains(t, out, `UPDATE "public"."accounts" SET tenant_id = $3`)
	assert.Contains(t, out, `-- $3 = "`+euID+`"`, "bound values are shown, not spliced")
	assert.Contains(t, out, `ON DELETE SET NULL ("account_id")`, "SET NULL keeps tenant_id")
	assert.Contains(t, out, "NOT VALID")
	assert.Contains(t, out, "CREATE UNIQUE INDEX CONCURRENTLY")
	assert.Contains(t, out, "SET LOCAL lock_timeout = '500ms'")
}

// TestInspectRefuses checks, on PostgreSQL, the shapes Inspect does not
// adopt: each is refused with ErrUnsupported naming the table.
func TestInspectRefuses(t *testing.T) {
	ctx := context.Background()
	_, db := testenv.PostgresDB(t)
	_, err := db.Exec(`
CREATE TABLE ok (id int PRIMARY KEY);
CREATE TABLE nokey (v text);
CREATE TABLE textkey (id text PRIMARY KEY);
CREATE TABLE tenanted (id int PRIMARY KEY, tenant_id text);
CREATE TABLE loose (id int PRIMARY KEY, email text);
CREATE UNIQUE INDEX loose_email ON loose (email);
CREATE TABLE outsider (id int PRIMARY KEY, ok_id int REFERENCES ok (id));
CREATE SCHEMA other;
CREATE TABLE other.ref (id int PRIMARY KEY, ok_id int REFERENCES public.ok (id));`)
	require.NoError(t, err)
	for table, want := range map[string]string{
		"nokey":    "no primary key",
		"textkey":  "one smallint, integer or bigint column",
		"tenanted": "already has a tenant_id column",
		"loose":    "unique index loose_email backs no constraint",
	} {
		t.Run("it refuses "+table, func(t *testing.T) {
			_, err := adopt.Inspect(ctx, db, "public", table)
			assert.ErrorIs(t, err, adopt.ErrUnsupported)
			assert.ErrorContains(t, err, want)
		})
	}
	t.Run("it refuses a table referenced from a table not adopted", func(t *testing.T) {
		_, err := adopt.Inspect(ctx, db, "public", "ok")
		assert.ErrorIs(t, err, adopt.ErrUnsupported)
		assert.ErrorContains(t, err, "public.outsider")
		assert.ErrorContains(t, err, "other.ref")
	})
	t.Run("it refuses a table that does not exist", func(t *testing.T) {
		_, err := adopt.Inspect(ctx, db, "public", "missing")
		assert.ErrorIs(t, err, adopt.ErrUnsupported)
	})
	t.Run("it refuses a name that needs quoting", func(t *testing.T) {
		_, err := adopt.Inspect(ctx, db, "public", `ok"; DROP TABLE ok; --`)
		assert.ErrorIs(t, err, sqlscope.ErrIdentifier)
	})
}

// TestUnassignedRowsStopTheRun checks that rows the join path cannot
// give a tenant (a NULL foreign key) stop the run before NOT NULL, and
// that the run resumes once they are fixed.
func TestUnassignedRowsStopTheRun(t *testing.T) {
	ctx := context.Background()
	_, db := testenv.PostgresDB(t)
	_, err := db.Exec(`
CREATE TABLE accounts (id int PRIMARY KEY);
CREATE TABLE contacts (id int PRIMARY KEY, account_id int REFERENCES accounts (id));
INSERT INTO accounts VALUES (1), (2);
INSERT INTO contacts VALUES (1, 1), (2, NULL), (3, 2);`)
	require.NoError(t, err)
	a := map[string]adopt.Assignment{"accounts": adopt.Constant(euID), "contacts": adopt.Through("account_id", "accounts")}
	run := func() error {
		s, err := adopt.Inspect(ctx, db, "public")
		require.NoError(t, err)
		p, err := adopt.New(s, a)
		require.NoError(t, err)
		_, err = adopt.Run(ctx, db, p)
		return err
	}
	err = run()
	require.ErrorIs(t, err, adopt.ErrUnassigned)
	assert.ErrorContains(t, err, "contacts has 1 row(s)")
	var nullable bool
	require.NoError(t, db.QueryRow(`SELECT NOT attnotnull FROM pg_attribute WHERE attrelid = 'contacts'::regclass AND attname = 'tenant_id'`).Scan(&nullable))
	assert.True(t, nullable)

	_, err = db.Exec(`UPDATE contacts SET account_id = 1 WHERE id = 2`) // the fill trigger gives it its tenant
	require.NoError(t, err)
	require.NoError(t, run())
	var tenants int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM contacts WHERE tenant_id = $1`, euID).Scan(&tenants))
	assert.Equal(t, 3, tenants)
}

// TestMovedRowStopsAtValidation changes, mid-migration, the foreign key
// that gave a contact its tenant, so that it points into another tenant:
// the run must stop at validating the new foreign key, and resume once
// the row is fixed.
func TestMovedRowStopsAtValidation(t *testing.T) {
	ctx := context.Background()
	_, db := testenv.PostgresDB(t)
	legacy(t, db, 10, 100, 100)
	run := func(hook func(adopt.Progress)) error {
		_, err := adopt.Run(ctx, db, plan(t, db), adopt.WithProgress(hook))
		return err
	}
	moved := false
	err := run(func(p adopt.Progress) {
		if p.Phase == adopt.PhaseKeys && !moved {
			moved = true
			// Contact 2 belongs to account 3 (us); account 2 is eu.
			_, err := db.Exec(`UPDATE contacts SET account_id = 2 WHERE id = 2`)
			require.NoError(t, err)
		}
	})
	require.Error(t, err)
	assert.Equal(t, "23503", sqlState(err), "%v", err)
	assert.ErrorContains(t, err, "VALIDATE CONSTRAINT")

	_, err = db.Exec(`UPDATE contacts SET tenant_id = $1 WHERE id = 2`, euID)
	require.NoError(t, err)
	_, err = db.Exec(`UPDATE deals SET tenant_id = $1 WHERE contact_id = 2`, euID)
	require.NoError(t, err)
	require.NoError(t, run(nil))
}
