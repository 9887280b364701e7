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

	"github.com/tenantwall/tenantwall/internal/testenv"
	"github.com/tenantwall/tenantwall/sqlscope"
	"github.com/tenantwall/tenantwall/sqlscope/adopt"
	"github.com/tenantwall/tenantwall/sqlscope/internal/sqllex"
)

// oneTable is a one-table schema of the dialect, for judging an
// Expression alone.
func oneTable(d sqlscope.Dialect) adopt.Schema {
	s := adopt.Schema{Name: "public", Tables: []adopt.Table{{Name: "accounts", PrimaryKey: adopt.Key{Name: "accounts_pkey", Columns: []string{"id"}}}}}
	if d == sqlscope.SQLite {
		s.Dialect, s.Name = sqlscope.SQLite, "main"
		s.Tables[0].Columns = []adopt.Column{{Name: "id", Type: "INTEGER"}, {Name: "region", Type: "TEXT"}, {Name: "amount", Type: "INTEGER"}}
	}
	return s
}

// hostileExpressions try to leave the place an Expression is given in
// the generated statements: end the statement, comment out what follows
// it (the backfill's key range, the trigger body's end), close the
// parenthesis it is placed in, leave a quote open, bind a parameter, or
// end the trigger's dollar-quoted body. only names the one dialect a
// case is refused in (0: both).
var hostileExpressions = []struct {
	name, expr string
	only       sqlscope.Dialect // 0: refused in both dialects
}{
	{"a second statement after closing the parenthesis", `x); DROP TABLE t; --`, 0},
	{"a statement separator", `'x'; DROP TABLE accounts`, 0},
	{"a trailing semicolon", `region;`, 0},
	{"a line comment that hides the rest of the statement", `x -- comment`, 0},
	{"a line comment on a line of its own", "x\n-- comment", 0},
	{"a line comment glued to its text", `region --comment`, 0},
	{"an empty block comment", `x /* */`, 0},
	{"a block comment that is never closed", `x /* `, 0},
	{"a nested block comment left open", `x /* /* */`, sqlscope.Postgres},
	{"a comment alone", `/* */`, 0},
	{"a parenthesis closed early to set another column", `'a')::text, name = (name`, 0},
	{"a parenthesis closed early to widen the WHERE", `'a') WHERE true OR (true`, 0},
	{"a parenthesis left open", `lower(region`, 0},
	{"one parenthesis closed too many", `lower(region))`, 0},
	{"a bracket closed by a parenthesis", `(ARRAY['a'])[1)`, sqlscope.Postgres},
	{"a bracket left open", `(ARRAY['a'])[1`, sqlscope.Postgres},
	{"a stray closing bracket", `region]`, 0},
	{"an unterminated string", `'eu`, 0},
	{"a string whose doubled quote leaves it open", `'eu''`, 0},
	{"an unterminated quoted identifier", `"region`, 0},
	{"an E string whose escaped backslash ends it before a second statement", `E'\\'); DROP TABLE t; --'`, 0},
	{"an E string whose escaped quote leaves it open", `E'eu\'`, sqlscope.Postgres},
	{"a standard string with a backslash before its quote", `'eu\'); DROP TABLE t; --'`, 0},
	{"a parameter placeholder", `$1`, 0},
	{"a parameter placeholder inside a call", `coalesce(region, $3)`, sqlscope.Postgres},
	{"an empty-tag dollar-quoted string", `$$eu$$`, 0},
	{"a tagged dollar-quoted string", `$t$eu$t$`, 0},
	{"a dollar quote that would close the trigger body", `'x' $tenantwall_adopt$`, 0},
	{"a dollar quote left open", `$$eu`, 0},
	{"a question-mark placeholder", `coalesce(region, ?)`, sqlscope.SQLite},
	{"a numbered placeholder", `?1`, sqlscope.SQLite},
	{"a named placeholder", `:region`, sqlscope.SQLite},
	{"an at-sign placeholder", `@region`, sqlscope.SQLite},
	{"a dollar placeholder", `$region`, 0},
	{"an unterminated bracketed identifier", `[region`, sqlscope.SQLite},
	{"the row filter's marker", `{tenant}`, 0},
	{"a NUL byte that ends the statement early", "'eu'\x00; DROP TABLE t", 0},
	{"text that is not UTF-8", "'eu\xff'", sqlscope.Postgres},
	{"a block comment between a Unicode-escaped string and its UESCAPE", `U&'!0065u' /* c */ UESCAPE '!'`, sqlscope.Postgres},
	{"a line comment between a Unicode-escaped string and its UESCAPE", "U&'!0065u' -- c\n UESCAPE '!'", sqlscope.Postgres},
	{"a comment between UESCAPE and its character", `U&'!0065u' UESCAPE /* c */ '!'`, sqlscope.Postgres},
	{"a nested comment before the UESCAPE of a Unicode-escaped identifier", `U&"region" /* /* c */ */ UESCAPE '!'`, sqlscope.Postgres},
	{"a line comment between the lines of a continued string", "'e' -- c\n'u'", sqlscope.Postgres},
	{"a line comment between the lines of a continued E string", "E'e' -- c\n'u'", sqlscope.Postgres},
	{"a block comment between the lines of what would be a continued string", "'e' /* c */\n'u'", sqlscope.Postgres},
	{"an empty expression", ``, 0},
	{"blanks only", " \t\n", 0},
}

// TestExpressionRefusesWhatCouldLeaveItsPlace checks the allow-list
// guard on Expression: what it does not lex as a single expression is
// refused with ErrAssignment naming the table, and nothing is planned.
func TestExpressionRefusesWhatCouldLeaveItsPlace(t *testing.T) {
	for _, d := range []sqlscope.Dialect{sqlscope.Postgres, sqlscope.SQLite} {
		for _, tc := range hostileExpressions {
			if tc.only != 0 && tc.only != d {
				continue
			}
			t.Run(d.String()+": it refuses "+tc.name, func(t *testing.T) {
				p, err := adopt.New(oneTable(d), map[string]adopt.Assignment{"accounts": adopt.Expression(tc.expr)})
				assert.ErrorIs(t, err, adopt.ErrAssignment)
				assert.ErrorContains(t, err, "table accounts")
				assert.Nil(t, p)
			})
		}
	}
}

// acceptedExpressions are expressions that lex as one expression: the
// ones the package's tests and docs use, and ones whose literals hold
// what would be hostile as code (only: the one dialect, 0: both).
var acceptedExpressions = []struct {
	name, expr string
	only       sqlscope.Dialect
}{
	{"a CASE over a column", `CASE region WHEN 'eu' THEN '` + euID + `' ELSE '` + usID + `' END`, 0},
	{"a searched CASE without ELSE", `CASE WHEN amount > 50 THEN '` + euID + `' END`, 0},
	{"a sub-select into a mapping table", `(SELECT m.tenant_id FROM public.region_tenants AS m WHERE m.region = accounts.region)`, sqlscope.Postgres},
	{"nested calls and a cast", `coalesce(lower(region), 'us')::text`, sqlscope.Postgres},
	{"nested calls and CAST", `CAST(coalesce(lower(region), 'us') AS TEXT)`, 0},
	{"a string holding comment markers, a semicolon, a dollar sign and a question mark", `CASE WHEN region = '-- /* ; $1 ? {tenant}' THEN 'x' END`, 0},
	{"a string holding the trigger body's dollar-quote tag", `region || '$tenantwall_adopt$'`, 0},
	{"a doubled quote in a string", `'it''s ' || region`, 0},
	{"an E string with an escaped quote, a backslash and an octal escape", `E'it\'s \\ \145u' || region`, sqlscope.Postgres},
	{"a Unicode-escaped string", `U&'\0065u' || region`, sqlscope.Postgres},
	{"a Unicode-escaped string with its UESCAPE clause on the next line", "U&'!0065u'\n UESCAPE '!' || region", sqlscope.Postgres},
	{"a string continued on the next line", "'e'\n\t'u' || region", sqlscope.Postgres},
	{"an array subscript", `(ARRAY['a', 'b'])[CASE region WHEN 'eu' THEN 1 ELSE 2 END]`, sqlscope.Postgres},
	{"a jsonb key test", `CASE WHEN '{"eu": 1}'::jsonb ? region THEN 'x' END`, sqlscope.Postgres},
	{"a quoted identifier", `"region" || ''`, 0},
	{"a bracketed and a backquoted identifier", "[region] || `amount`", sqlscope.SQLite},
	{"an identifier with a dollar sign", `x$y`, sqlscope.Postgres},
	{"a blob literal", `CAST(x'6575' AS TEXT)`, sqlscope.SQLite},
	{"blanks around it", "\n\t region \n", 0},
}

func TestExpressionAcceptsOneExpression(t *testing.T) {
	for _, d := range []sqlscope.Dialect{sqlscope.Postgres, sqlscope.SQLite} {
		for _, tc := range acceptedExpressions {
			if tc.only != 0 && tc.only != d {
				continue
			}
			t.Run(d.String()+": it accepts "+tc.name, func(t *testing.T) {
				p, err := adopt.New(oneTable(d), map[string]adopt.Assignment{"accounts": adopt.Expression(tc.expr)})
				require.NoError(t, err)
				n := 0
				for _, st := range p.Steps() {
					for _, s := range st.Statements {
						n += strings.Count(s.SQL, "("+tc.expr+")")
						assertEndsInCode(t, d, s.SQL)
					}
				}
				assert.Positive(t, n, "the expression is placed as written, in parentheses")
			})
		}
	}
}

// assertEndsInCode checks that stmt is one statement whose end is plain
// code, as the server's lexer reads it: a marker appended after it is
// found there, not swallowed by a literal, a comment or a dollar quote
// that the expression opened or closed early.
func assertEndsInCode(t *testing.T, d sqlscope.Dialect, stmt string) {
	t.Helper()
	sites, err := sqllex.Sites(sqllex.Dialect(d), stmt+" "+sqlscope.Marker, nil)
	if !assert.NoError(t, err, "%s", stmt) {
		return
	}
	var markers []int
	for _, s := range sites {
		if s.Marker {
			markers = append(markers, s.Pos)
		}
	}
	assert.Equal(t, []int{len(stmt) + 1}, markers, "the statement ends in code: %s", stmt)
}

// serverExpressions each give an accounts row of region eu the tenant
// euID and any other row usID, in a form whose literals or identifiers
// hold what would be hostile as code, or that uses a construct the guard
// must read as the server does. %s is the schema.
var serverExpressions = []struct {
	name, expr string
	only       sqlscope.Dialect
}{
	{"a CASE over a column", `CASE region WHEN 'eu' THEN '` + euID + `' ELSE '` + usID + `' END`, 0},
	{"comment markers, a semicolon, a dollar sign and a question mark in a literal",
		`CASE WHEN region = 'eu' AND '-- /* ; $1 ? {tenant}' <> '' THEN '` + euID + `' ELSE '` + usID + `' END`, 0},
	{"the trigger body's dollar-quote tag in a literal",
		`CASE region || '$tenantwall_adopt$' WHEN 'eu$tenantwall_adopt$' THEN '` + euID + `' ELSE '` + usID + `' END`, 0},
	{"the trigger body's dollar-quote tag in an identifier",
		`CASE r$tenantwall_adopt$ WHEN 'eu' THEN '` + euID + `' ELSE '` + usID + `' END`, sqlscope.Postgres},
	{"E strings with an escaped quote and an octal escape",
		`CASE WHEN region = E'\145u' AND E'it\'s' <> '' THEN '` + euID + `' ELSE '` + usID + `' END`, sqlscope.Postgres},
	{"a Unicode-escaped string", `CASE region WHEN U&'\0065u' THEN '` + euID + `' ELSE '` + usID + `' END`, sqlscope.Postgres},
	{"an array subscript", `(ARRAY['` + euID + `', '` + usID + `'])[CASE region WHEN 'eu' THEN 1 ELSE 2 END]`, sqlscope.Postgres},
	{"a sub-select into a mapping table", `(SELECT m.tenant FROM %s.region_tenants AS m WHERE m.region = accounts.region)`, sqlscope.Postgres},
	{"a sub-select into a mapping table", `(SELECT m.tenant FROM region_tenants AS m WHERE m.region = accounts.region)`, sqlscope.SQLite},
	{"bracketed, backquoted and double-quoted identifiers",
		"CASE WHEN [region] = 'eu' AND `accounts`.\"region\" = [region] THEN '" + euID + "' ELSE '" + usID + "' END", sqlscope.SQLite},
	{"a blob literal", `CASE CAST(x'6575' AS TEXT) WHEN region THEN '` + euID + `' ELSE '` + usID + `' END`, sqlscope.SQLite},
}

// TestAcceptedExpressionsRunAsWritten adopts a table by each of
// serverExpressions on a real PostgreSQL and SQLite: the plan runs (the
// temporary trigger's function compiles: its dollar quote ends where the
// plan put it), and every row, backfilled or inserted through the
// trigger during the run, has the tenant of its region.
func TestAcceptedExpressionsRunAsWritten(t *testing.T) {
	ctx := context.Background()
	_, pg := testenv.PostgresDB(t)
	for i, tc := range serverExpressions {
		if tc.only != sqlscope.SQLite {
			t.Run("postgres: it runs "+tc.name, func(t *testing.T) {
				schema := fmt.Sprintf("expr_%d", i)
				_, err := pg.Exec(fmt.Sprintf(`CREATE SCHEMA %[1]s;
CREATE TABLE %[1]s.accounts (id int PRIMARY KEY, region text NOT NULL, r$tenantwall_adopt$ text);
CREATE TABLE %[1]s.region_tenants (region text PRIMARY KEY, tenant text NOT NULL);
INSERT INTO %[1]s.region_tenants VALUES ('eu', '%[2]s'), ('us', '%[3]s');
INSERT INTO %[1]s.accounts SELECT g, CASE WHEN g %% 2 = 0 THEN 'eu' ELSE 'us' END FROM generate_series(1, 10) g;
UPDATE %[1]s.accounts SET r$tenantwall_adopt$ = region`, schema, euID, usID))
				require.NoError(t, err)
				s, err := adopt.Inspect(ctx, pg, schema, "accounts")
				require.NoError(t, err)
				p, err := adopt.New(s, map[string]adopt.Assignment{"accounts": adopt.Expression(strings.ReplaceAll(tc.expr, "%s", schema))},
					adopt.WithBatchSize(4))
				require.NoError(t, err)
				inserted := false
				rep, err := adopt.Run(ctx, pg, p, adopt.WithProgress(func(pr adopt.Progress) {
					if pr.Phase == adopt.PhaseBackfill && !inserted {
						inserted = true
						_, err := pg.Exec(`INSERT INTO ` + schema + `.accounts VALUES (11, 'eu', 'eu'), (12, 'us', 'us')`)
						require.NoError(t, err)
					}
				}))
				require.NoError(t, err)
				require.NoError(t, rep.Err())
				require.True(t, inserted)
				var rows, wrong int
				require.NoError(t, pg.QueryRow(`SELECT count(*), count(*) FILTER (WHERE tenant_id IS DISTINCT FROM CASE region WHEN 'eu' THEN $1 ELSE $2 END) FROM `+
					schema+`.accounts`, euID, usID).Scan(&rows, &wrong))
				assert.Equal(t, 12, rows)
				assert.Zero(t, wrong)
			})
		}
		if tc.only != sqlscope.Postgres {
			t.Run("sqlite: it runs "+tc.name, func(t *testing.T) {
				db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "x.db")+"?_pragma=foreign_keys(1)")
				require.NoError(t, err)
				db.SetMaxOpenConns(1)
				t.Cleanup(func() { db.Close() })
				_, err = db.Exec(`CREATE TABLE accounts (id INTEGER PRIMARY KEY, region TEXT NOT NULL);
CREATE TABLE region_tenants (region TEXT PRIMARY KEY, tenant TEXT NOT NULL);
INSERT INTO region_tenants VALUES ('eu', '` + euID + `'), ('us', '` + usID + `');
INSERT INTO accounts VALUES (1, 'eu'), (2, 'us'), (3, 'eu')`)
				require.NoError(t, err)
				s, err := adopt.InspectSQLite(ctx, db, "accounts")
				require.NoError(t, err)
				p, err := adopt.New(s, map[string]adopt.Assignment{"accounts": adopt.Expression(tc.expr)})
				require.NoError(t, err)
				rep, err := adopt.Run(ctx, db, p)
				require.NoError(t, err)
				require.NoError(t, rep.Err())
				var rows, wrong int
				require.NoError(t, db.QueryRow(`SELECT count(*), sum(tenant_id IS NOT CASE region WHEN 'eu' THEN ? ELSE ? END) FROM accounts`,
					euID, usID).Scan(&rows, &wrong))
				assert.Equal(t, 3, rows)
				assert.Zero(t, wrong)
			})
		}
	}
}
