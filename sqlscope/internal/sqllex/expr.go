package sqllex

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Expression checks that expr is one SQL expression's worth of tokens, so
// that a statement can carry it inside parentheses without the text that
// follows being ended, commented out or re-parenthesised by it. Every
// token must be one the dialect's lexer positively recognises (as Sites
// reads them) and of a kind an expression is made of: a word, a number,
// a closed string or quoted identifier, an operator or punctuation. It
// refuses a comment anywhere, including the ones PostgreSQL takes inside
// a token (between the lines of a continued string, around a UESCAPE
// clause), a ';', a parameter or placeholder (PostgreSQL's $1;
// SQLite's ?, ?1, :name, @name, $name; MySQL's ?), a PostgreSQL
// dollar-quoted string, a Marker, and
// parentheses or brackets that do not pair up in order (one closed that
// was not opened, or one left open), as well as an expression of blanks
// only. It does not parse the expression: a sub-select or a function call
// is as good as a column name.
func Expression(d Dialect, expr string) error {
	if i := strings.IndexByte(expr, 0); i >= 0 {
		return fmt.Errorf("NUL byte at offset %d", i)
	}
	if d == Postgres && !utf8.ValidString(expr) {
		return errors.New("not valid UTF-8")
	}
	var open []byte // the closing parentheses and brackets awaited, innermost last
	tokens := 0
	for i := 0; i < len(expr); {
		n, err := trivia(d, expr, i)
		if err != nil {
			return err
		}
		if n > 0 {
			if !blank(expr[i]) {
				return fmt.Errorf("comment at offset %d", i)
			}
			i += n
			continue
		}
		tokens++
		switch c := expr[i]; {
		case c == ';':
			return fmt.Errorf("statement separator ';' at offset %d", i)
		case c == '{':
			return fmt.Errorf("'{' at offset %d", i)
		case c == '?' && d != Postgres:
			return fmt.Errorf("placeholder '?' at offset %d", i)
		case c == '$' && d == Postgres:
			// A word never starts with '$': this is a parameter ($1) or
			// a dollar-quoted string ($$…$$, $tag$…$tag$).
			return fmt.Errorf("parameter or dollar-quoted string at offset %d", i)
		case c == '(':
			open = append(open, ')')
			i++
			continue
		case c == '[' && d != SQLite: // SQLite: the start of a [quoted identifier]
			open = append(open, ']')
			i++
			continue
		case c == ')' || c == ']':
			if len(open) == 0 || open[len(open)-1] != c {
				return fmt.Errorf("%q at offset %d closes nothing this expression opened", c, i)
			}
			open = open[:len(open)-1]
			i++
			continue
		}
		end, err := token(d, expr, i, false)
		if err != nil {
			return err
		}
		i = end
	}
	if len(open) > 0 {
		return fmt.Errorf("%d parenthesis or bracket left open (%q awaited)", len(open), open[len(open)-1])
	}
	if tokens == 0 {
		return errors.New("no expression")
	}
	return nil
}

// blank reports whether c is a blank that trivia skips (every other
// trivia is a comment).
func blank(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}
