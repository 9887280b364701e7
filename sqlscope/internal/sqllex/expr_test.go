package sqllex_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/tenantwall/tenantwall/sqlscope/internal/sqllex"
)

// The PostgreSQL and SQLite cases are tabled through their user,
// sqlscope/adopt (assign_test.go); these check what differs by dialect,
// MySQL included.
func TestExpression(t *testing.T) {
	const (
		pg = sqllex.Postgres
		sl = sqllex.SQLite
		my = sqllex.MySQL
	)
	for _, tc := range []struct {
		name string
		d    sqllex.Dialect
		expr string
		ok   bool
	}{
		{"a MySQL expression with a string and a call", my, `CONCAT(region, 'x')`, true},
		{"a MySQL double minus before a digit, which is two minus signs", my, `1 --1`, true},
		{"a MySQL double minus and a blank, which is a comment", my, `1 -- 1`, false},
		{"a MySQL hash comment", my, `region # x`, false},
		{"a MySQL executable comment", my, `1 /*! + 1 */`, false},
		{"a MySQL placeholder", my, `?`, false},
		{"a MySQL backslash in a string, whose meaning depends on sql_mode", my, `'a\'`, false},
		{"a MySQL user variable", my, `@v`, true},
		{"a PostgreSQL vertical tab, not a blank in PostgreSQL 15", pg, "region\v", false},
		{"a SQLite vertical tab", sl, "region\v", true},
		{"a PostgreSQL string continued on the next line", pg, "'e'\n'u'", true},
		{"a PostgreSQL E string continued across a comment, whose comment is still a comment", pg, "E'e' -- c\n'u'", false},
		{"a PostgreSQL string continued across a comment", pg, "'e' --\n'u'", false},
		{"a PostgreSQL comment before a UESCAPE", pg, "U&'e' /**/ UESCAPE '!'", false},
		{"a PostgreSQL line comment before a UESCAPE", pg, "U&\"e\" --\nUESCAPE '!'", false},
		{"a PostgreSQL comment after a UESCAPE", pg, "U&'e' UESCAPE --\n'!'", false},
		{"a PostgreSQL UESCAPE on the next line", pg, "U&'e'\nUESCAPE\n'!'", true},
		{"a PostgreSQL cast after a bracket", pg, `(ARRAY[1])[1]::text`, true},
		{"a PostgreSQL parenthesis closing a bracket", pg, `ARRAY[1)`, false},
		{"a SQLite bracket, which is a quoted identifier", sl, `[a(b]`, true},
		{"a SQLite closing bracket alone", sl, `a]`, false},
		{"a PostgreSQL marker", pg, `{tenant}`, false},
		{"nothing but a comment", pg, `-- x`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := sqllex.Expression(tc.d, tc.expr)
			if tc.ok {
				assert.NoError(t, err)
			} else {
				assert.Error(t, err)
			}
		})
	}
}
