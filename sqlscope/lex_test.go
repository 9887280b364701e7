package sqlscope_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/sqlscope"
	"github.com/tenantwall/tenantwall/tenant"
)

// lexCase is one statement given to Bind: either it is rewritten to want,
// or it is refused with err.
type lexCase struct {
	name string
	d    sqlscope.Dialect
	in   string
	want string
	err  error
}

const (
	pg = sqlscope.Postgres
	sl = sqlscope.SQLite
	my = sqlscope.MySQL
)

// TestBindReadsMarkersAsTheServerDoes holds hostile statements: markers the
// server reads as text must never be bound (the statement would run
// unscoped with the tenant bound elsewhere), markers it reads as code must
// be, and whatever cannot be classified with certainty is refused.
func TestBindReadsMarkersAsTheServerDoes(t *testing.T) {
	var (
		unscoped = sqlscope.ErrUnscoped
		refused  = sqlscope.ErrStatement
	)
	cases := []lexCase{
		// PostgreSQL: markers that are text.
		{name: "a marker after an escaped quote in an E string is text (issue 13)", d: pg,
			in: `SELECT name FROM leads WHERE note = E'\'{tenant}' OR $1 IS NOT NULL --'`, err: unscoped},
		{name: "a marker in a lower-case e string after an escaped backslash and quote is text", d: pg,
			in: `SELECT e'\\\' {tenant} ' --'`, err: unscoped},
		{name: "a marker after an octal-escaped backslash and an escaped quote is text", d: pg,
			in: `SELECT E'\134\' {tenant} ' --'`, err: unscoped},
		{name: "a marker after the end of a nested comment's inner part is text (issue 13)", d: pg,
			in: `SELECT name FROM leads WHERE /* /* */ tenant_id = {tenant} AND */ $1 IS NOT NULL`, err: unscoped},
		{name: "a marker in a thrice nested comment is text", d: pg,
			in: `SELECT 1 /* a /* b /* c */ {tenant} */ {tenant} */`, err: unscoped},
		{name: "a marker after a slash-star-slash opening is text", d: pg, in: `SELECT 1 /*/ {tenant} */`, err: unscoped},
		{name: "a marker in an E string continued on the next line is text", d: pg,
			in: "SELECT E'x'\n'\\' {tenant} ' --'", err: unscoped},
		{name: "a marker in an E string continued across a line comment is text", d: pg,
			in: "SELECT E'x' -- c\n  -- d\r\n'\\' {tenant} ' --'", err: unscoped},
		{name: "a marker in a dollar quote with a non-ASCII tag is text", d: pg,
			in: `SELECT $é$ {tenant} $é$`, err: unscoped},
		{name: "a marker in a dollar quote holding another tag is text", d: pg,
			in: `SELECT $a$ $b$ {tenant} $b$ $A$ {tenant} $a$`, err: unscoped},
		{name: "a marker in an empty-tag dollar quote is text", d: pg, in: `SELECT $$ {tenant} $$`, err: unscoped},
		{name: "a marker in a tag with digits and underscores is text", d: pg, in: `SELECT $_1x$ {tenant} $_1x$`, err: unscoped},
		{name: "a marker in a U& string is text", d: pg, in: `SELECT U&'\0041{tenant}'`, err: unscoped},
		{name: "a marker in a U& identifier is text", d: pg, in: `SELECT 1 AS U&"{tenant}"`, err: unscoped},
		{name: "a marker in a U& string with UESCAPE is text", d: pg, in: `SELECT U&'!0041 {tenant}' UESCAPE '!'`, err: unscoped},
		{name: "a marker in bit, hex and national strings is text", d: pg, in: `SELECT B'{tenant}', X'{tenant}', N'{tenant}'`, err: unscoped},
		{name: "a marker in a standard string after backslashes is text", d: pg, in: `SELECT 'a\_\\' || '{tenant}'`, err: unscoped},
		{name: "a backslash before a quote in a standard string is refused, as standard_conforming_strings would change it", d: pg,
			in: `SELECT 'a\' || '{tenant}' || {tenant}`, err: refused},
		{name: "three backslashes before a quote in a national string are refused", d: pg, in: `SELECT N'a\\\' || {tenant} --'`, err: refused},
		{name: "a backslash after a non-ASCII byte in a standard string is refused", d: pg, in: `SELECT 'с\\' = {tenant}`, err: refused},
		{name: "a marker after a standard string ending in two backslashes is code", d: pg,
			in: `SELECT 'a\\' = {tenant}`, want: `SELECT 'a\\' = $1`},
		{name: "a marker after a LIKE pattern with an escaped underscore is code", d: pg,
			in: `SELECT 'a_b' LIKE '%\_%' = ({tenant} IS NULL)`, want: `SELECT 'a_b' LIKE '%\_%' = ($1 IS NULL)`},
		{name: "a backslash before a quote in a bit string is not an escape", d: pg, in: `SELECT B'\', {tenant}`, want: `SELECT B'\', $1`},
		{name: "a marker after a doubled quote is text", d: pg, in: `SELECT 'it''s {tenant}'`, err: unscoped},
		{name: "a marker in a quoted identifier with a doubled quote is text", d: pg, in: `SELECT 1 AS "a""{tenant}"`, err: unscoped},
		{name: "a marker in a line comment is text", d: pg, in: "SELECT 1 -- {tenant}", err: unscoped},

		// PostgreSQL: markers that are code.
		{name: "a marker after a closed E string with escapes is code", d: pg,
			in:   `SELECT * FROM t WHERE note = E'\'{tenant}\\' AND tenant_id = {tenant}`,
			want: `SELECT * FROM t WHERE note = E'\'{tenant}\\' AND tenant_id = $1`},
		{name: "a marker after a line comment ended by a carriage return is code", d: pg,
			in: "SELECT 1 --x\r= {tenant}", want: "SELECT 1 --x\r= $1"},
		{name: "a marker after an identifier holding dollars is code", d: pg,
			in: `SELECT 1 AS x$a$, {tenant}::uuid AS y -- $a$`, want: `SELECT 1 AS x$a$, $1::uuid AS y -- $a$`},
		{name: "a marker after a fully closed nested comment is code", d: pg,
			in: `SELECT /* /* */ */ ({tenant})`, want: `SELECT /* /* */ */ ($1)`},
		{name: "a marker after a U& string with a valid UESCAPE is code", d: pg,
			in: `SELECT U&'!0041' UESCAPE '!' = {tenant}`, want: `SELECT U&'!0041' UESCAPE '!' = $1`},
		{name: "a marker after a dollar quote whose body holds a longer tag is code", d: pg,
			in: `SELECT $a$ $ab$ $a$ = {tenant}`, want: `SELECT $a$ $ab$ $a$ = $1`},
		{name: "a marker after an E string ending on a doubled quote is code", d: pg,
			in: `SELECT E'a''' = {tenant}`, want: `SELECT E'a''' = $1`},
		{name: "a marker before a trailing semicolon and comment is code", d: pg,
			in: "SELECT {tenant}; -- done\n", want: "SELECT $1; -- done\n"},
		{name: "a marker beside a jsonb ? operator is code", d: pg,
			in: `SELECT d ? 'k' FROM t WHERE tenant_id = {tenant}`, want: `SELECT d ? 'k' FROM t WHERE tenant_id = $1`},

		// PostgreSQL: refused.
		{name: "an unterminated E string is refused", d: pg, in: `SELECT {tenant}, E'abc\'`, err: refused},
		{name: "an unterminated dollar quote is refused", d: pg, in: `SELECT {tenant}, $a$ x $A$`, err: refused},
		{name: "an unterminated nested comment is refused", d: pg, in: `SELECT {tenant} /* /* */`, err: refused},
		{name: "an unterminated quoted identifier is refused", d: pg, in: `SELECT {tenant} AS "x`, err: refused},
		{name: "an unterminated U& string is refused", d: pg, in: `SELECT {tenant}, U&'x`, err: refused},
		{name: "an unterminated bit string is refused", d: pg, in: `SELECT {tenant}, B'01`, err: refused},
		{name: "an empty quoted identifier is refused", d: pg, in: `SELECT {tenant} AS ""`, err: refused},
		{name: "a UESCAPE of a hex digit is refused", d: pg, in: `SELECT U&'x' UESCAPE 'a', {tenant}`, err: refused},
		{name: "a UESCAPE of a plus sign is refused", d: pg, in: `SELECT U&'x' UESCAPE '+', {tenant}`, err: refused},
		{name: "a UESCAPE of a blank is refused", d: pg, in: `SELECT U&'x' UESCAPE ' ', {tenant}`, err: refused},
		{name: "a UESCAPE of a quote is refused", d: pg, in: `SELECT U&'x' UESCAPE '''', {tenant}`, err: refused},
		{name: "a UESCAPE of two characters is refused", d: pg, in: `SELECT U&'x' UESCAPE '!!', {tenant}`, err: refused},
		{name: "a UESCAPE continued on the next line is refused", d: pg, in: "SELECT U&\"x\" UESCAPE '!'\n'!', {tenant}", err: refused},
		{name: "a UESCAPE without a string is refused", d: pg, in: `SELECT U&'x' uescape, {tenant}`, err: refused},
		{name: "a lone dollar is refused", d: pg, in: `SELECT $ {tenant}`, err: refused},
		{name: "an unclosed dollar tag is refused", d: pg, in: `SELECT $abc {tenant}`, err: refused},
		{name: "a parameter with trailing junk is refused", d: pg, in: `SELECT $1abc, {tenant}`, err: refused},
		{name: "a number glued to an E string is refused", d: pg, in: `SELECT 1e'\' {tenant} ' --'`, err: refused},
		{name: "a number glued to a letter is refused", d: pg, in: `SELECT 0x1F, {tenant}`, err: refused},
		{name: "a backslash after a non-ASCII byte in an E string is refused", d: pg, in: `SELECT E'с\' {tenant} ' --'`, err: refused},
		{name: "a vertical tab in code is refused", d: pg, in: "SELECT E'x'\v\n'\\' {tenant} '", err: refused},
		{name: "a backslash in code is refused", d: pg, in: `SELECT \ {tenant}`, err: refused},
		{name: "invalid UTF-8 is refused", d: pg, in: "SELECT '\xff', {tenant}", err: refused},

		// Every dialect.
		{name: "a second statement is refused", d: pg, in: `SELECT {tenant}; DELETE FROM leads`, err: refused},
		{name: "a second statement is refused in SQLite", d: sl, in: `SELECT {tenant}; DELETE FROM leads`, err: refused},
		{name: "a second statement is refused in MySQL", d: my, in: `SELECT {tenant};DELETE FROM leads`, err: refused},
		{name: "a NUL byte is refused", d: pg, in: "SELECT {tenant} -- \x00", err: refused},
		{name: "a NUL byte is refused in SQLite", d: sl, in: "SELECT 1 -- \x00\n, {tenant}", err: refused},
		{name: "a misspelt marker is refused", d: sl, in: `SELECT * FROM leads WHERE tenant_id = {TENANT}`, err: refused},
		{name: "a marker with a blank inside is refused", d: pg, in: `SELECT { tenant}, {tenant}`, err: refused},
		{name: "a brace in code is refused", d: my, in: `SELECT {tenant} }`, err: refused},
		{name: "a marker glued to a word before it is refused", d: pg, in: `SELECT x{tenant}`, err: refused},
		{name: "a marker glued to a digit after it is refused", d: sl, in: `SELECT {tenant}1`, err: refused},
		{name: "a marker glued to a dollar after it is refused", d: pg, in: `SELECT {tenant}$$ $$`, err: refused},

		// SQLite.
		{name: "a marker in a bracketed identifier is text in SQLite", d: sl, in: `SELECT 1 AS [{tenant}]`, err: unscoped},
		{name: "a quote in a bracketed identifier is an identifier character in SQLite", d: sl,
			in: `SELECT [a'b] FROM t WHERE tenant_id = {tenant}`, want: `SELECT [a'b] FROM t WHERE tenant_id = ?`},
		{name: "a marker in a backquoted identifier is text in SQLite", d: sl, in: "SELECT 1 AS `{tenant}`", err: unscoped},
		{name: "a marker in a blob literal is text in SQLite", d: sl, in: `SELECT x'{tenant}'`, err: unscoped},
		{name: "a backslash does not escape in SQLite", d: sl, in: `SELECT 'a\' = {tenant}`, want: `SELECT 'a\' = ?`},
		{name: "comments do not nest in SQLite", d: sl, in: `SELECT /* /* */ {tenant}`, want: `SELECT /* /* */ ?`},
		{name: "a line comment ends only at a newline in SQLite", d: sl, in: "SELECT 1 -- x\r{tenant}", err: unscoped},
		{name: "a colon parameter is refused in SQLite", d: sl, in: `SELECT {tenant}, :x`, err: refused},
		{name: "an at parameter is refused in SQLite", d: sl, in: `SELECT {tenant}, @x`, err: refused},
		{name: "a dollar parameter is refused in SQLite", d: sl, in: `SELECT {tenant}, $x(') {tenant} ')`, err: refused},
		{name: "a numbered placeholder is refused in SQLite", d: sl, in: `SELECT {tenant}, ?1`, err: refused},
		{name: "an unterminated bracketed identifier is refused in SQLite", d: sl, in: `SELECT {tenant} AS [x`, err: refused},

		// MySQL.
		{name: "a backslash in a MySQL string is refused", d: my, in: `SELECT * FROM leads WHERE n = 'a\' {tenant} '`, err: refused},
		{name: "a backslash in a double-quoted MySQL string is refused", d: my, in: `SELECT "a\" {tenant} "`, err: refused},
		{name: "a MySQL executable comment is refused", d: my, in: `SELECT 1 /*! , {tenant} */`, err: refused},
		{name: "a MariaDB executable comment is refused", d: my, in: `SELECT {tenant} /*M!100000 , 1 */`, err: refused},
		{name: "a nested comment is refused in MySQL", d: my, in: `SELECT {tenant} /* /* */`, err: refused},
		{name: "a non-ASCII byte outside strings is refused in MySQL", d: my, in: "SELECT \x81`, {tenant} -- `", err: refused},
		{name: "a non-ASCII byte inside a word is refused in MySQL", d: my, in: "SELECT ab\x81`, {tenant} -- `", err: refused},
		{name: "a non-ASCII backquoted identifier is refused in MySQL", d: my, in: "SELECT `\x81` = {tenant}", err: refused},
		{name: "a marker in a hash comment is text in MySQL", d: my, in: "SELECT 1 # {tenant}", err: unscoped},
		{name: "a marker in a dash-dash-space comment is text in MySQL", d: my, in: "SELECT 1 -- {tenant}", err: unscoped},
		{name: "dash-dash without a blank is two minus signs in MySQL", d: my, in: "SELECT 1 --{tenant}", want: "SELECT 1 --?"},
		{name: "a marker in a double-quoted MySQL string is text", d: my, in: `SELECT "a""{tenant}"`, err: unscoped},
		{name: "a non-ASCII string is accepted in MySQL", d: my, in: `SELECT 'é' = {tenant}`, want: `SELECT 'é' = ?`},
		{name: "an optimizer hint is a comment in MySQL", d: my, in: `SELECT /*+ {tenant} */ {tenant}`, want: `SELECT /*+ {tenant} */ ?`},
	}
	ctx := tenant.NewContext(context.Background(), tenant.Tenant{ID: "3f0c9a52-6a7e-4c4e-9a35-2d1f0e8b7c61", Slug: "acme"})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := sqlscope.NewFilter(nil, c.d)
			require.NoError(t, err)
			got, _, err := f.Bind(ctx, c.in, nil)
			if c.err != nil {
				assert.ErrorIs(t, err, c.err, "Bind(%q) = %q", c.in, got)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.want, got)
		})
	}
}
