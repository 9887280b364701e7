package adopt_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/internal/testenv"
	"github.com/tenantwall/tenantwall/sqlscope"
	"github.com/tenantwall/tenantwall/sqlscope/adopt"
)

// The tests below ask the real server, not sqlscope's lexer (which
// Expression and FuzzExpression's own checks share), whether an
// expression that New accepts stays in its place. Each accepted
// expression is run, in rolled-back transactions, in the statements the
// plan places it in and in a sentinel statement
//
//	SELECT (expr)::text AS v, 'tenantwall_sentinel' AS s FROM … AS "accounts"
//
// (SQLite: CAST((expr) AS TEXT), as the plan writes it). The server may
// run it, and then the text after the expression must mean what it says:
// the sentinel select returns exactly the columns v and s with s intact,
// the backfill updates exactly the one row of its key range, the trigger
// function's body is exactly the one the plan wrote, SQLite's copy
// inserts as many rows as its count counted. Or the server may refuse it
// as malformed at a place inside the expression (a syntax error in it).
// Any other refusal (an unknown column, a runtime error) shows nothing
// about where the expression ends and is inconclusive; the seeds that
// run are what the fuzzer mutates. The server must never stop or read
// anything past the expression: a syntax error
// located after the expression's own closing parenthesis (PostgreSQL
// gives the offset; SQLite names the token) or at the end of the input,
// a token that runs from the expression into the text after it, or a
// different number of parameters or statements all mean that the server
// read the end of the expression elsewhere than the guard did.

// exprSentinel is the literal after the expression in the sentinel select.
const exprSentinel = "tenantwall_sentinel"

// exprVerdict is what the server taught about one expression.
type exprVerdict int

const (
	exprRefused      exprVerdict = iota // New refused it; the server was not asked
	exprInconclusive                    // the server refused it without showing where it ends
	exprRejected                        // the server refused it as malformed, inside it
	exprConfirmed                       // the server ran it with the sentinel intact
)

func (v exprVerdict) String() string {
	return [...]string{"refused", "inconclusive", "rejected", "confirmed"}[v]
}

// exprServer runs the statements of one dialect's plans.
type exprServer struct {
	d      sqlscope.Dialect
	db     *sql.DB
	schema adopt.Schema
}

// postgresExprServer makes a database with a probe schema and connects
// as a role without privileges (it owns the probe schema and the
// function schema, and reads public.region_tenants), with a statement
// timeout: the Fuzz target runs the fuzzer's text, which may call any
// function.
func postgresExprServer(t testing.TB) *exprServer {
	u, admin := testenv.PostgresDB(t)
	role, roleURL := testenv.PostgresRole(t, admin, u)
	_, err := admin.Exec(fmt.Sprintf(`CREATE SCHEMA probe AUTHORIZATION %[1]s;
CREATE SCHEMA %[2]s AUTHORIZATION %[1]s;
CREATE TABLE public.region_tenants (region text PRIMARY KEY, tenant_id text NOT NULL, tenant text NOT NULL);
INSERT INTO public.region_tenants VALUES ('eu', '%[3]s', '%[3]s'), ('us', '%[4]s', '%[4]s');
GRANT SELECT ON public.region_tenants TO %[1]s`, role, sqlscope.FunctionSchema, euID, usID))
	require.NoError(t, err)
	sep := "?"
	if strings.Contains(roleURL, "?") {
		sep = "&"
	}
	db, err := sql.Open("pgx", roleURL+sep+"statement_timeout=2000")
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	_, err = db.Exec(`CREATE TABLE probe.accounts (id int PRIMARY KEY, region text, amount int, "x$y" text, "r$tenantwall_adopt$" text, tenant_id text);
INSERT INTO probe.accounts (id, region, amount, "x$y", "r$tenantwall_adopt$") VALUES (1, 'eu', 10, 'a', 'eu'), (2, 'us', 60, 'b', 'us'), (3, 'eu', 100, 'c', 'eu')`)
	require.NoError(t, err)
	s := oneTable(sqlscope.Postgres)
	s.Name = "probe"
	return &exprServer{d: sqlscope.Postgres, db: db, schema: s}
}

// sqliteExprServer makes a SQLite file with oneTable's accounts.
func sqliteExprServer(t testing.TB) *exprServer {
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "expr.db"))
	require.NoError(t, err)
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	_, err = db.Exec(`CREATE TABLE accounts (id INTEGER PRIMARY KEY, region TEXT, amount INTEGER);
CREATE TABLE region_tenants (region TEXT PRIMARY KEY, tenant TEXT NOT NULL);
INSERT INTO region_tenants VALUES ('eu', '` + euID + `'), ('us', '` + usID + `');
INSERT INTO accounts VALUES (1, 'eu', 10), (2, 'us', 60), (3, 'eu', 100)`)
	require.NoError(t, err)
	return &exprServer{d: sqlscope.SQLite, db: db, schema: oneTable(sqlscope.SQLite)}
}

// placed is a statement holding the expression, and the byte offset just
// after the expression's own closing parenthesis (and, in PostgreSQL, the
// ::text cast applied to it): nothing the server says about the
// expression lies past it.
type placed struct {
	sql string
	end int
}

// place finds open+expr+close in stmt; the plan writes it there.
func place(t *testing.T, stmt, open, expr, close string) placed {
	t.Helper()
	i := strings.Index(stmt, open+expr+close)
	if i < 0 {
		t.Fatalf("the plan no longer places the expression as %s…%s:\n%s", open, close, stmt)
	}
	return placed{sql: stmt, end: i + len(open+expr+close)}
}

// judge plans expr for the server's dialect and runs what the plan
// places it in; it fails t where the server read past the expression.
func (s *exprServer) judge(t *testing.T, expr string) exprVerdict {
	t.Helper()
	p, err := adopt.New(s.schema, map[string]adopt.Assignment{"accounts": adopt.Expression(expr)})
	if err != nil {
		if !errors.Is(err, adopt.ErrAssignment) {
			t.Fatalf("New(Expression(%q)) failed without ErrAssignment: %v", expr, err)
		}
		return exprRefused
	}
	var stmts []string
	for _, st := range p.Steps() {
		for _, x := range st.Statements {
			stmts = append(stmts, x.SQL)
		}
	}
	find := func(prefix string, holds bool) string {
		for _, q := range stmts {
			if strings.HasPrefix(q, prefix) && (!holds || strings.Contains(q, "("+expr+")")) {
				return q
			}
		}
		t.Fatalf("the plan has no statement starting %q (holding the expression: %t)", prefix, holds)
		return ""
	}
	if s.d == sqlscope.Postgres {
		v := s.pgSentinel(t, place(t, `SELECT (`+expr+`)::text AS v, '`+exprSentinel+`' AS s FROM probe.accounts AS "accounts"`, "(", expr, ")::text"))
		s.pgBackfill(t, place(t, find("UPDATE ", true), "(", expr, ")::text"))
		s.pgTrigger(t, place(t, find("CREATE OR REPLACE FUNCTION ", true), "SELECT (", expr, ")::text"))
		return v
	}
	v := s.sqliteSentinel(t, expr, place(t, `SELECT CAST((`+expr+`) AS TEXT) AS v, '`+exprSentinel+`' AS s FROM "accounts"`, "(", expr, ")"))
	s.sqliteRebuild(t, expr, place(t, find("SELECT count(*)", true), "(", expr, ")"), find("CREATE TABLE ", false),
		place(t, find("INSERT INTO ", true), "(", expr, ")"))
	return v
}

// tx runs f in a transaction that it rolls back, with a deadline for the
// SQLite statements (PostgreSQL's role has a statement timeout).
func (s *exprServer) tx(t *testing.T, f func(ctx context.Context, tx *sql.Tx)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tx, err := s.db.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback() }()
	f(ctx, tx)
}

// sentinelRows reads the sentinel select's rows: its columns must be v
// and s, and s the sentinel on every row. It returns the error of a
// row, and whether the sentinel held.
func sentinelRows(t *testing.T, q placed, rows *sql.Rows) (bool, error) {
	t.Helper()
	defer rows.Close()
	cols, err := rows.Columns()
	require.NoError(t, err)
	if !slices.Equal(cols, []string{"v", "s"}) {
		t.Errorf("the server reads the text after the expression as other columns %q:\n%s", cols, q.sql)
		return false, nil
	}
	held := true
	for rows.Next() {
		var v, sentinel any
		if err := rows.Scan(&v, &sentinel); err != nil {
			return false, err
		}
		if got := fmt.Sprintf("%s", sentinel); got != exprSentinel {
			t.Errorf("the sentinel after the expression reads %q:\n%s", got, q.sql)
			held = false
		}
	}
	return held, rows.Err()
}

var pgNear = regexp.MustCompile(`(?s)at or near "(.*)"`)

// pgOutcome judges a PostgreSQL error from running q.
func pgOutcome(t *testing.T, q placed, err error) exprVerdict {
	t.Helper()
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		// pgx counts the statement's parameters before sending it.
		t.Errorf("the server does not take the statement as planned (%v):\n%s", err, q.sql)
		return exprInconclusive
	}
	if pe.Position == 0 {
		if pe.Code == "42601" {
			t.Errorf("the server refuses the statement as a whole (%s):\n%s", pe.Message, q.sql)
		}
		return exprInconclusive
	}
	last := int(pe.Position) // the last character the error covers, counted from 1
	if m := pgNear.FindStringSubmatch(pe.Message); m != nil && m[1] != "" {
		last += utf8.RuneCountInString(m[1]) - 1
	}
	if end := utf8.RuneCountInString(q.sql[:q.end]); last > end {
		t.Errorf("the server reads past the expression: %q at character %d, after the expression's end at %d:\n%s", pe.Message, pe.Position, end, q.sql)
		return exprInconclusive
	}
	if pe.Code == "42601" {
		return exprRejected
	}
	return exprInconclusive
}

func (s *exprServer) pgSentinel(t *testing.T, q placed) (v exprVerdict) {
	s.tx(t, func(ctx context.Context, tx *sql.Tx) {
		rows, err := tx.QueryContext(ctx, q.sql)
		if err == nil {
			var held bool
			if held, err = sentinelRows(t, q, rows); err == nil {
				v = exprInconclusive
				if held {
					v = exprConfirmed
				}
				return
			}
		}
		v = pgOutcome(t, q, err)
	})
	return v
}

// pgBackfill runs the plan's batch UPDATE over the key range (1, 2] of
// rows 1, 2 and 3: it updates row 2 alone.
func (s *exprServer) pgBackfill(t *testing.T, q placed) {
	s.tx(t, func(ctx context.Context, tx *sql.Tx) {
		res, err := tx.ExecContext(ctx, q.sql, 1, 2)
		if err != nil {
			pgOutcome(t, q, err)
			return
		}
		if n, err := res.RowsAffected(); assert.NoError(t, err) && n != 1 {
			t.Errorf("the backfill updated %d rows of its one-row key range:\n%s", n, q.sql)
		}
	})
}

// pgTrigger creates the plan's trigger function (PostgreSQL parses its
// body, check_function_bodies being on): its body must be exactly the
// dollar-quoted text the plan wrote.
func (s *exprServer) pgTrigger(t *testing.T, q placed) {
	tag := q.sql[strings.LastIndexByte(q.sql[:len(q.sql)-1], '$'):]
	start := strings.Index(q.sql, " AS "+tag)
	name := strings.TrimPrefix(q.sql[:strings.Index(q.sql, "(")], "CREATE OR REPLACE FUNCTION ")
	require.True(t, start > 0 && strings.HasSuffix(tag, "$") && name != "", "the plan's trigger function is not %q…AS $tag$…$tag$:\n%s", name, q.sql)
	body := q.sql[start+len(" AS "+tag) : len(q.sql)-len(tag)]
	s.tx(t, func(ctx context.Context, tx *sql.Tx) {
		if _, err := tx.ExecContext(ctx, q.sql); err != nil {
			pgOutcome(t, q, err)
			return
		}
		var src string
		require.NoError(t, tx.QueryRowContext(ctx, `SELECT prosrc FROM pg_proc WHERE oid = $1::regprocedure`, name+"()").Scan(&src))
		if src != body {
			t.Errorf("the trigger function's body is not the one the plan wrote:\n%s\nbody:\n%s", q.sql, src)
		}
	})
}

var sqliteNear = regexp.MustCompile(`(?s)near "(.*)": syntax error|unrecognized token: "(.*)"`)

// sqliteOutcome judges a SQLite error from running q. SQLite names the
// token it stopped at, not its offset: that token must be text of the
// parenthesised expression.
func sqliteOutcome(t *testing.T, expr string, q placed, err error) exprVerdict {
	t.Helper()
	msg := err.Error()
	if strings.Contains(msg, "incomplete input") {
		t.Errorf("the server reads the statement as ending inside the expression (%s):\n%s", msg, q.sql)
		return exprInconclusive
	}
	if m := sqliteNear.FindStringSubmatch(msg); m != nil {
		if tok := m[1] + m[2]; !strings.Contains("("+expr+")", tok) {
			t.Errorf("the server stops at %q, which is not in the expression (%s):\n%s", tok, msg, q.sql)
			return exprInconclusive
		}
		return exprRejected
	}
	return exprInconclusive
}

func (s *exprServer) sqliteSentinel(t *testing.T, expr string, q placed) (v exprVerdict) {
	s.tx(t, func(ctx context.Context, tx *sql.Tx) {
		rows, err := tx.QueryContext(ctx, q.sql)
		if err == nil {
			var held bool
			if held, err = sentinelRows(t, q, rows); err == nil {
				v = exprInconclusive
				if held {
					v = exprConfirmed
				}
				return
			}
		}
		v = sqliteOutcome(t, expr, q, err)
	})
	return v
}

// sqliteRebuild runs the rebuild's count of rows without a tenant (one
// row of two columns) and its copy into the new table, which must insert
// as many rows as the count counted.
func (s *exprServer) sqliteRebuild(t *testing.T, expr string, count placed, create string, insert placed) {
	s.tx(t, func(ctx context.Context, tx *sql.Tx) {
		counted := int64(-1)
		rows, err := tx.QueryContext(ctx, count.sql)
		if err == nil {
			cols, cerr := rows.Columns()
			require.NoError(t, cerr)
			n := 0
			for rows.Next() {
				n++
				var missing int64
				if len(cols) == 2 && rows.Scan(&counted, &missing) != nil {
					counted = -1
				}
			}
			err = rows.Err()
			rows.Close()
			if err == nil && (len(cols) != 2 || n != 1) {
				t.Errorf("the count reads as %d rows of columns %q:\n%s", n, cols, count.sql)
			}
		}
		if err != nil {
			sqliteOutcome(t, expr, count, err)
		}
		_, err = tx.ExecContext(ctx, create)
		require.NoError(t, err, create)
		res, err := tx.ExecContext(ctx, insert.sql)
		if err != nil {
			sqliteOutcome(t, expr, insert, err)
			return
		}
		if n, err := res.RowsAffected(); assert.NoError(t, err) && counted >= 0 && n != counted {
			t.Errorf("the copy inserted %d rows, the count counted %d:\n%s\n%s", n, counted, count.sql, insert.sql)
		}
	})
}

// serverSeeds are the Fuzz targets' corpus: every expression of the unit
// tables, the hostile ones included (a lexer that came to accept one is
// then judged by the server), and spellings where a lexer is easily
// wrong about where a token ends.
func serverSeeds() []string {
	var seeds []string
	for _, c := range hostileExpressions {
		seeds = append(seeds, c.expr)
	}
	for _, c := range acceptedExpressions {
		seeds = append(seeds, c.expr)
	}
	for _, c := range serverExpressions {
		seeds = append(seeds, strings.ReplaceAll(c.expr, "%s", "public"))
	}
	return append(seeds,
		"'a'\n'b'", "'a'\r'b' || region", "E'\\\\' || 'x'", "E'\\'' || region", "e'\\x41' || region", "U&'!0061' UESCAPE '!'",
		"U&\"region\" UESCAPE '!'", "U&'a'\nUESCAPE\n'!'", "U&'a' /* c */ UESCAPE '!'", "'a' -- c\n'b'",
		"N'eu' || B'01'::text || X'1F'::text", `"a""b"`, "1.5e3", ".5", "1..2", "1e", "x$y", "x$tenantwall_adopt", "region\v",
		"'$tenantwall_adopt_1$' || '$tenantwall_adopt$'", "[a]]", "a$b", "`a``b`", "region\n--comment\n",
	)
}

// FuzzExpressionAgreesWithPostgres runs each expression New accepts in
// the statements the plan places it in on a real PostgreSQL, and fails
// where the server reads its end elsewhere than the guard did.
func FuzzExpressionAgreesWithPostgres(f *testing.F) {
	s := postgresExprServer(f)
	for _, seed := range serverSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, expr string) { s.judge(t, expr) })
}

// FuzzExpressionAgreesWithSQLite is FuzzExpressionAgreesWithPostgres for
// SQLite.
func FuzzExpressionAgreesWithSQLite(f *testing.F) {
	s := sqliteExprServer(f)
	for _, seed := range serverSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, expr string) { s.judge(t, expr) })
}

// TestAcceptedExpressionsAgreeWithServers keeps the Fuzz targets' oracle
// honest: every expression the unit tests accept must be confirmed by
// the server (run, sentinel intact), not merely left inconclusive.
func TestAcceptedExpressionsAgreeWithServers(t *testing.T) {
	servers := map[sqlscope.Dialect]func(testing.TB) *exprServer{
		sqlscope.Postgres: postgresExprServer, sqlscope.SQLite: sqliteExprServer,
	}
	for _, d := range []sqlscope.Dialect{sqlscope.Postgres, sqlscope.SQLite} {
		t.Run(d.String(), func(t *testing.T) {
			s := servers[d](t)
			for _, tc := range acceptedExpressions {
				if tc.only != 0 && tc.only != d {
					continue
				}
				t.Run("the server confirms "+tc.name, func(t *testing.T) {
					assert.Equal(t, exprConfirmed, s.judge(t, tc.expr))
				})
			}
		})
	}
}
