package adopt_test

import (
	"testing"

	"github.com/tenantwall/tenantwall/sqlscope"
	"github.com/tenantwall/tenantwall/sqlscope/adopt"
	"github.com/tenantwall/tenantwall/sqlscope/internal/sqllex"
)

// FuzzExpression feeds arbitrary text to Expression in both dialects. New
// must never panic, and an expression it accepts must stay in its place:
// every statement of the plan ends in code as the server's lexer reads it
// (no literal, comment or dollar quote the expression opened swallows
// what follows, and the trigger body's dollar quote ends where the plan
// put it), and the expression pairs its own parentheses: one more ')'
// after it, a comment after it or a ';' after it is refused, and
// parenthesised it is accepted. These checks use sqlscope's own lexer;
// FuzzExpressionAgreesWithPostgres and FuzzExpressionAgreesWithSQLite ask
// the servers.
func FuzzExpression(f *testing.F) {
	for _, c := range hostileExpressions {
		f.Add(c.expr)
	}
	for _, c := range acceptedExpressions {
		f.Add(c.expr)
	}
	for _, s := range []string{"x$tenantwall_adopt", "'$tenantwall_adopt_1$' || '$tenantwall_adopt$'", "E'\\\\'", "U&'\\0061' UESCAPE '!'", "$_$"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		for _, d := range []sqlscope.Dialect{sqlscope.Postgres, sqlscope.SQLite} {
			p, err := adopt.New(oneTable(d), map[string]adopt.Assignment{"accounts": adopt.Expression(expr)})
			if err != nil {
				continue
			}
			for _, st := range p.Steps() {
				for _, s := range st.Statements {
					sites, err := sqllex.Sites(sqllex.Dialect(d), s.SQL+" "+sqlscope.Marker, nil)
					if err != nil {
						t.Fatalf("%s: accepted %q, but its statement does not lex: %v\n%s", d, expr, err, s.SQL)
					}
					var markers []int
					for _, site := range sites {
						if site.Marker {
							markers = append(markers, site.Pos)
						}
					}
					if len(markers) != 1 || markers[0] != len(s.SQL)+1 {
						t.Fatalf("%s: accepted %q, but its statement does not end in code (markers %v):\n%s", d, expr, markers, s.SQL)
					}
				}
			}
			ld := sqllex.Dialect(d)
			if sqllex.Expression(ld, "("+expr+")") != nil {
				t.Fatalf("%s: accepted %q, but not in parentheses", d, expr)
			}
			for _, after := range []string{")", " -- x", " /* x */", "; SELECT 1"} {
				if sqllex.Expression(ld, expr+after) == nil {
					t.Fatalf("%s: accepted %q followed by %q", d, expr, after)
				}
			}
		}
	})
}
