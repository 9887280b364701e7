package sqlscope_test

import (
	"context"
	"database/sql"
	"errors"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/internal/testenv"
	"github.com/tenantwall/tenantwall/sqlscope"
	"github.com/tenantwall/tenantwall/tenant"
)

// The differential tests below ask the real server, not a model of it,
// whether the row filter's lexer is right. '{' is never valid code in
// PostgreSQL or SQLite, so:
//
//   - a statement Bind rewrote that the server runs proves that every
//     marker Bind left alone is text (in code it would be a syntax error);
//   - the same statement with one rewritten marker put back must then fail
//     with a syntax error at exactly that marker, or the server read that
//     place as text and the tenant parameter went into a string or comment.
//
// Statements are built from fragments: literals of every kind holding
// markers, comments, nested comments, dollar quotes, identifiers, markers
// in code, and loose quote and comment openers that throw the rest off.

// dialectServer runs statements for one dialect and recognises the error
// its server raises for a '{' in code at a given byte offset.
type dialectServer struct {
	d         sqlscope.Dialect
	db        *sql.DB
	param     string
	items     []string
	trivia    []string
	confusers []string
	braceAt   func(err error, stmt string, off int) bool
}

var pgItems = []string{
	"{tenant}", "{tenant}::text", "({tenant})", "{tenant} || 'x'", "'a{tenant}b'", "'it''s {tenant}'",
	`E'\'{tenant}'`, `e'\\'`, `E'a\\\'{tenant}'`, `E'{tenant}\''`, `E'\134\' {tenant}'`, `E'\x27{tenant}'`,
	"$$ {tenant} $$", "$a$ {tenant} $$ $a$", "$é$ {tenant} $é$", "$_1$ $_2$ {tenant} $_1$", "$A$ $a$ {tenant} $A$",
	"U&'{tenant}'", "U&'!0041{tenant}' UESCAPE '!'", "U&'\\0041' /* u */ UESCAPE '#'", "N'{tenant}'", "B'0101'", "X'1F'",
	"1", "1.5e3", ".5", "'a'\n'{tenant}'", "E'x'\n'\\' {tenant}'", "E'x' -- c\n'\\'{tenant}'", "'x' -- {tenant}\r'y'",
	`1 AS "a""{tenant}"`, `2 AS U&"{tenant}"`, `3 AS "{tenant}"`, "(SELECT x$a$ FROM (SELECT 1 AS x$a$) s)",
	"'{tenant}'::text", `'%\_%'`, `'a\\'`, `'\\\\' || '{tenant}'`, "ARRAY[1,2][1:1]", "'{1,2}'::int[]", "jsonb '{\"k\":1}' ? 'k'",
}

var pgTrivia = []string{
	" ", "\n", "\t", "/* {tenant} */", "/* /* */ {tenant} */", "/*/ */", "-- {tenant}\n", "--{tenant}\r",
	"/* a /* b */ c */", "/**/", "/* ' */", "-- '\n", "/* $$ */",
}

var pgConfusers = []string{
	"'", "E'", `\'`, `\`, "$a$", "$$", "/*", "*/", "--", "\n", `"`, "''", `\\`, "U&'", `e'\'`, "{tenant}", "$é$", "\r", "x", "1",
}

var sqliteItems = []string{
	"{tenant}", "({tenant})", "{tenant} || 'x'", "'a{tenant}b'", "'it''s {tenant}'", `'a\'`, "x'0A'", "X'{tenant}'",
	`1 AS "{tenant}"`, `2 AS "a""{tenant}"`, "3 AS [{tenant}]", "4 AS [a'{tenant}]", "5 AS `{tenant}`", "6 AS `a``{tenant}`",
	"1", "1.5e3", "'a' || '{tenant}'", "CAST({tenant} AS TEXT)",
}

var sqliteTrivia = []string{
	" ", "\n", "\t", "/* {tenant} */", "/* /* {tenant} */", "-- {tenant}\n", "--{tenant}\r\n", "/**/", "/* ' */", "-- '\n",
}

var sqliteConfusers = []string{"'", `"`, "`", "[", "]", "/*", "*/", "--", "\n", "\r", "''", `\'`, "{tenant}", "x"}

// chooser picks among n choices: a seeded generator for the corpus, the
// fuzzer's bytes for the Fuzz targets.
type chooser interface{ IntN(n int) int }

type byteChooser struct{ b []byte }

func (c *byteChooser) IntN(n int) int {
	if len(c.b) == 0 {
		return 0
	}
	v := int(c.b[0])
	c.b = c.b[1:]
	return v % n
}

// generate builds "SELECT item, item, …, {tenant}" with trivia around the
// items and, sometimes, loose confusers.
func (s *dialectServer) generate(r chooser) string {
	var b strings.Builder
	b.WriteString("SELECT ")
	n := 1 + r.IntN(5)
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		for range r.IntN(3) {
			b.WriteString(s.trivia[r.IntN(len(s.trivia))])
		}
		if r.IntN(6) == 0 {
			b.WriteString(s.confusers[r.IntN(len(s.confusers))])
		}
		b.WriteString(s.items[r.IntN(len(s.items))])
		for range r.IntN(2) {
			b.WriteString(s.trivia[r.IntN(len(s.trivia))])
		}
	}
	// One marker in code that the confusers may swallow, so that most
	// statements have something to bind.
	b.WriteString(", {tenant}")
	return b.String()
}

// verdict is what one statement taught.
type verdict int

const (
	refused      verdict = iota // Bind refused it
	inconclusive                // the server refused the rewritten statement
	agreed                      // the server confirmed every classification
)

// check binds stmt and confirms the lexer's view with the server; it fails
// t on any disagreement.
func (s *dialectServer) check(t *testing.T, stmt string) verdict {
	t.Helper()
	ctx := context.Background()
	id := "t-" + strings.Repeat("9", 8)
	f, err := sqlscope.NewFilter(s.db, s.d)
	require.NoError(t, err)
	out, args, err := f.Bind(tenant.NewContext(ctx, tenant.Tenant{ID: id, Slug: "acme"}), stmt, nil)
	if err != nil {
		if !errors.Is(err, sqlscope.ErrUnscoped) && !errors.Is(err, sqlscope.ErrStatement) {
			t.Fatalf("Bind(%q) failed without a sentinel: %v", stmt, err)
		}
		if testing.Verbose() {
			t.Logf("refused %q: %v", stmt, err)
		}
		return refused
	}
	sites := rewritten(stmt, out, s.param)
	require.NotEmpty(t, sites, "Bind(%q) = %q rewrote no marker", stmt, out)
	if err := s.run(ctx, out, args); err != nil {
		return inconclusive
	}
	for _, p := range sites {
		variant := out[:p] + sqlscope.Marker + out[p+len(s.param):]
		err := s.run(ctx, variant, args)
		if !s.braceAt(err, variant, p) {
			t.Errorf("the server does not read the marker Bind bound at offset %d as code:\n statement %q\n rewritten %q\n with the marker put back: %v", p, stmt, out, err)
		}
	}
	return agreed
}

func (s *dialectServer) run(ctx context.Context, q string, args []any) error {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
	}
	return rows.Err()
}

// rewritten returns the offsets in out where Bind put the parameter for a
// marker of in.
func rewritten(in, out, param string) []int {
	var sites []int
	for i, j := 0, 0; i < len(in) && j < len(out); {
		if strings.HasPrefix(in[i:], sqlscope.Marker) && strings.HasPrefix(out[j:], param) {
			sites = append(sites, j)
			i, j = i+len(sqlscope.Marker), j+len(param)
			continue
		}
		i, j = i+1, j+1
	}
	return sites
}

// postgresServer connects as a role without privileges, with a statement
// timeout: the Fuzz targets append the fuzzer's own text, which may call
// any function.
func postgresServer(t testing.TB) *dialectServer {
	u, admin := testenv.PostgresDB(t)
	_, roleURL := testenv.PostgresRole(t, admin, u)
	sep := "?"
	if strings.Contains(roleURL, "?") {
		sep = "&"
	}
	db, err := sql.Open("pgx", roleURL+sep+"statement_timeout=2000")
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return &dialectServer{
		d: sqlscope.Postgres, db: db, param: "$1", items: pgItems, trivia: pgTrivia, confusers: pgConfusers,
		braceAt: func(err error, stmt string, off int) bool {
			var pe *pgconn.PgError
			return errors.As(err, &pe) && pe.Code == "42601" &&
				int(pe.Position) == utf8.RuneCountInString(stmt[:off])+1
		},
	}
}

func sqliteServer(t testing.TB) *dialectServer {
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "lex.db"))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return &dialectServer{
		d: sqlscope.SQLite, db: db, param: "?", items: sqliteItems, trivia: sqliteTrivia, confusers: sqliteConfusers,
		braceAt: func(err error, _ string, _ int) bool {
			// SQLite names the token but not its offset; every other
			// '{' in the statement was already shown to be text.
			return err != nil && strings.Contains(err.Error(), `unrecognized token: "{"`)
		},
	}
}

// handWritten are the hostile statements of the unit tests that the
// server can run, so that their classification is confirmed by the
// server too.
var handWritten = []string{
	`SELECT E'\'{tenant}' = E'\'{tenant}', {tenant}`,
	`SELECT /* /* */ {tenant} */ 1, {tenant}`,
	"SELECT E'x'\n'\\' {tenant} ', {tenant}",
	"SELECT 1 --x\r, {tenant}",
	`SELECT 1 AS x$a$, {tenant}::text AS y -- $a$`,
	`SELECT $é$ {tenant} $é$, $a$ $ab$ $a$, {tenant}`,
	`SELECT U&'!0041' UESCAPE '!' = {tenant}`,
	`SELECT E'a''' = {tenant}`,
	"SELECT {tenant}; -- done\n",
}

// TestBindAgreesWithPostgres runs a fixed corpus (hand-written hostile
// statements and seeded generated ones) through Bind and the server.
func TestBindAgreesWithPostgres(t *testing.T) {
	s := postgresServer(t)
	differential(t, s, handWritten, 400)
}

// TestBindAgreesWithSQLite is the same check against SQLite's tokenizer.
func TestBindAgreesWithSQLite(t *testing.T) {
	s := sqliteServer(t)
	differential(t, s, []string{"SELECT 1 AS [{tenant}], 2 AS [a'] , {tenant}", "SELECT /* /* */ {tenant}", "SELECT 'a\\', {tenant}"}, 400)
}

func differential(t *testing.T, s *dialectServer, fixed []string, generated int) {
	counts := map[verdict]int{}
	for _, q := range fixed {
		assert.Equal(t, agreed, s.check(t, q), "the server does not run %q as rewritten", q)
	}
	r := rand.New(rand.NewPCG(13, 6))
	for range generated {
		counts[s.check(t, s.generate(r))]++
	}
	t.Logf("%s: %d agreed, %d inconclusive, %d refused", s.d, counts[agreed], counts[inconclusive], counts[refused])
	// A generator that stopped producing statements the server can run
	// would prove nothing.
	assert.Greater(t, counts[agreed], generated/4, "too few statements confirmed by the server")
}

// FuzzBindAgreesWithPostgres drives the fragment generator with the
// fuzzer's bytes and appends the fuzzer's raw text, then checks Bind's
// view against the server.
func FuzzBindAgreesWithPostgres(f *testing.F) {
	s := postgresServer(f)
	f.Add([]byte{0, 6, 1, 2, 3}, "")
	f.Add([]byte{4, 0, 0, 7, 1}, ", {tenant}")
	f.Add([]byte{2, 1, 5, 0, 9, 3, 1}, " -- {tenant}")
	f.Add([]byte{}, `, E'\'{tenant}' ,{tenant}`)
	f.Add([]byte{}, ", /* /* */ {tenant} */ {tenant}")
	f.Add([]byte{}, ", $x$ $y$ {tenant} $x$, {tenant}")
	f.Fuzz(func(t *testing.T, choices []byte, raw string) {
		s.check(t, s.generate(&byteChooser{b: choices})+raw)
	})
}

// FuzzBindAgreesWithSQLite is FuzzBindAgreesWithPostgres for SQLite.
func FuzzBindAgreesWithSQLite(f *testing.F) {
	s := sqliteServer(f)
	f.Add([]byte{0, 6, 1, 2, 3}, "")
	f.Add([]byte{}, ", [{tenant}], {tenant}")
	f.Fuzz(func(t *testing.T, choices []byte, raw string) {
		s.check(t, s.generate(&byteChooser{b: choices})+raw)
	})
}

// TestFilterDoesNotLeakThroughMisreadMarkers runs issue 13's attacks
// through Filter.Query on PostgreSQL: the marker hides in text, and the
// statement binds the tenant's parameter in code itself, so a lexer that
// counted the hidden marker would return every tenant's rows.
func TestFilterDoesNotLeakThroughMisreadMarkers(t *testing.T) {
	_, db := testenv.PostgresDB(t)
	ctx := context.Background()
	_, err := db.ExecContext(ctx, `CREATE TABLE leads (id int PRIMARY KEY, tenant_id text NOT NULL, name text NOT NULL, note text NOT NULL DEFAULT '')`)
	require.NoError(t, err)
	f, err := sqlscope.NewFilter(db, sqlscope.Postgres)
	require.NoError(t, err)
	a := tenant.NewContext(ctx, tenant.Tenant{ID: "a-" + testenv.Name("t"), Slug: "acme"})
	b := tenant.NewContext(ctx, tenant.Tenant{ID: "b-" + testenv.Name("t"), Slug: "globex"})
	_, err = f.Insert(a, "leads", []string{"id", "name"}, 1, "A's lead")
	require.NoError(t, err)
	_, err = f.Insert(b, "leads", []string{"id", "name"}, 2, "B's secret")
	require.NoError(t, err)

	attacks := map[string]string{
		"a marker after an escaped quote in an E string": `SELECT name FROM leads WHERE note = E'\'{tenant}' OR $1::text IS NOT NULL --'`,
		"a marker in a nested comment":                   `SELECT name FROM leads WHERE /* /* */ tenant_id = {tenant} */ $1::text IS NOT NULL`,
		"a marker in a continued E string":               "SELECT name FROM leads WHERE note = E'x'\n'\\' AND tenant_id = {tenant}' OR $1::text IS NOT NULL --'",
		"a marker in a non-ASCII dollar quote":           `SELECT name FROM leads WHERE note <> $é$ {tenant} $é$ OR $1::text IS NOT NULL`,
	}
	for name, q := range attacks {
		t.Run(name+" is refused", func(t *testing.T) {
			rows, err := f.Query(a, q)
			if err == nil {
				var leaked []string
				for rows.Next() {
					var n string
					require.NoError(t, rows.Scan(&n))
					leaked = append(leaked, n)
				}
				rows.Close()
				t.Fatalf("Query(%q) ran, returning %q", q, leaked)
			}
			assert.True(t, errors.Is(err, sqlscope.ErrUnscoped) || errors.Is(err, sqlscope.ErrStatement), "%v", err)
		})
	}
}
