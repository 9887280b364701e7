// Package sqllex reads SQL text the way PostgreSQL's, SQLite's and MySQL's
// own lexers do, for the guards of sqlscope and its subpackages: the row
// filter's statements (Sites) and adopt's tenant expressions
// (Expression). It decides by what it positively recognises and refuses
// anything it cannot classify with certainty. Its errors say what and
// where; callers wrap them in their own sentinel error.
package sqllex

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Dialect selects the lexer: the values of sqlscope.Dialect.
type Dialect uint8

// The dialects, in sqlscope.Dialect's order.
const (
	SQLite Dialect = iota + 1
	MySQL
	Postgres
)

// Marker is sqlscope.Marker, the token a row-filter statement writes
// where the tenant ID goes.
const Marker = "{tenant}"

// Site is a place in plain code where the row filter rewrites the
// statement: a Marker, or a '?' placeholder of the SQLite and MySQL
// dialects.
type Site struct {
	Pos    int  // offset in the statement
	Marker bool // a Marker; false: a '?' placeholder
}

// Sites walks query the way the database's own lexer does and appends to
// sites every Marker and every '?' placeholder that is plain code: not in
// a string, a quoted identifier, a dollar quote or a comment. It decides
// by what it positively recognises; any character or construct it cannot
// classify with certainty (an unterminated literal, a construct whose
// meaning depends on a server setting, a second statement) is refused,
// because a marker misread as code while the server reads it as text
// would leave the statement unscoped.
func Sites(d Dialect, query string, sites []Site) ([]Site, error) {
	if i := strings.IndexByte(query, 0); i >= 0 {
		// The server (and SQLite's C API) would end the statement there
		// and run only the part before it.
		return nil, fmt.Errorf("NUL byte at offset %d", i)
	}
	if d == Postgres && !utf8.ValidString(query) {
		return nil, errors.New("statement is not valid UTF-8")
	}
	ended := false // a ';' was seen: only blanks and comments may follow
	for i := 0; i < len(query); {
		// Fast path for the bulk of a statement: blanks and words that
		// cannot start a prefixed literal (E'', U&'', …).
		if c := query[i]; c == ' ' {
			i++
			continue
		} else if !ended && ('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_') &&
			!(d == Postgres && i+1 < len(query) && (query[i+1] == '\'' || query[i+1] == '&')) {
			i = word(d, query, i)
			continue
		}
		n, err := trivia(d, query, i)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			i += n
			continue
		}
		if ended {
			return nil, fmt.Errorf("more than one statement (text after ';' at offset %d)", i)
		}
		c := query[i]
		switch {
		case c == ';':
			ended = true
			i++
		case c == '{':
			if !strings.HasPrefix(query[i:], Marker) {
				return nil, fmt.Errorf("'{' at offset %d is not the %s marker", i, Marker)
			}
			end := i + len(Marker)
			if i > 0 && wordByte(query[i-1]) || end < len(query) && wordByte(query[end]) {
				return nil, fmt.Errorf("%s marker at offset %d touches a word; separate it", Marker, i)
			}
			sites = append(sites, Site{Pos: i, Marker: true})
			i = end
		case c == '?' && d != Postgres:
			if i+1 < len(query) && isDigit(query[i+1]) {
				return nil, fmt.Errorf("numbered placeholder (?NNN) at offset %d", i)
			}
			sites = append(sites, Site{Pos: i})
			i++
		default:
			var err error
			if i, err = token(d, query, i, true); err != nil {
				return nil, err
			}
		}
	}
	return sites, nil
}

// token consumes the token at q[i:] that is neither blank, comment,
// ';', marker nor placeholder, in the dialect's lexer. PostgreSQL lets a
// comment stand inside a token: a line comment between the lines of a
// continued string, any comment around a UESCAPE clause. With comments
// false such a token is refused.
func token(d Dialect, q string, i int, comments bool) (int, error) {
	switch d {
	case Postgres:
		return lexPostgres(q, i, comments)
	case SQLite:
		return lexSQLite(q, i)
	default:
		return lexMySQL(q, i)
	}
}

// trivia returns the length of the blank or comment at query[i:], or 0 if
// there is none.
func trivia(d Dialect, q string, i int) (int, error) {
	switch c := q[i]; {
	case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
		return 1, nil
	case c == '\v' && d != Postgres:
		// PostgreSQL 15 does not take a vertical tab as a blank (16
		// does), so it changes where a string continues: refused there.
		return 1, nil
	case c == '-' && i+1 < len(q) && q[i+1] == '-':
		if d == MySQL && i+2 < len(q) && q[i+2] > ' ' && q[i+2] != 0x7f {
			return 0, nil // MySQL: "--x" is two minus signs
		}
		return lineComment(d, q, i+2) - i, nil
	case c == '#' && d == MySQL:
		return lineComment(d, q, i+1) - i, nil
	case c == '/' && i+1 < len(q) && q[i+1] == '*':
		end, err := blockComment(d, q, i)
		return end - i, err
	}
	return 0, nil
}

// lineComment returns the index of the newline ending a line comment whose
// text starts at i (PostgreSQL also ends it at a carriage return).
func lineComment(d Dialect, q string, i int) int {
	for ; i < len(q); i++ {
		if q[i] == '\n' || q[i] == '\r' && d == Postgres {
			return i
		}
	}
	return i
}

// blockComment returns the index just past the block comment at q[i:].
// PostgreSQL nests them; SQLite does not; MySQL runs the text of "/*!"
// and "/*M!" comments as code depending on the server version and has
// nesting rules that vary by version, so both are refused there.
func blockComment(d Dialect, q string, i int) (int, error) {
	if d == MySQL && (strings.HasPrefix(q[i+2:], "!") || strings.HasPrefix(q[i+2:], "M!")) {
		return 0, fmt.Errorf("MySQL executable comment at offset %d", i)
	}
	depth := 0
	for j := i + 2; j+1 < len(q); {
		switch {
		case q[j] == '*' && q[j+1] == '/':
			if depth == 0 {
				return j + 2, nil
			}
			depth--
			j += 2
		case q[j] == '/' && q[j+1] == '*':
			if d == MySQL {
				return 0, fmt.Errorf("nested comment at offset %d", j)
			}
			if d == Postgres {
				depth++
			}
			j += 2
		default:
			j++
		}
	}
	return 0, fmt.Errorf("unterminated comment at offset %d", i)
}

// lexPostgres consumes the token at q[i:] that is neither blank, comment,
// ';', marker nor placeholder, following PostgreSQL's scan.l with
// standard_conforming_strings on, and returns the index after it.
// comments: see token.
func lexPostgres(q string, i int, comments bool) (int, error) {
	c := q[i]
	next := byte(0)
	if i+1 < len(q) {
		next = q[i+1]
	}
	switch {
	case c == '\'':
		return pgString(q, i+1, false, true, comments)
	case (c == 'e' || c == 'E') && next == '\'':
		return pgString(q, i+2, true, true, comments)
	case (c == 'n' || c == 'N') && next == '\'':
		return pgString(q, i+2, false, true, comments)
	case (c == 'b' || c == 'B' || c == 'x' || c == 'X') && next == '\'':
		return pgString(q, i+2, false, false, comments)
	case (c == 'u' || c == 'U') && next == '&' && i+2 < len(q) && (q[i+2] == '\'' || q[i+2] == '"'):
		var end int
		var err error
		if q[i+2] == '\'' {
			end, err = pgString(q, i+3, false, true, comments)
		} else {
			end, err = doubled(q, i+2, '"', "quoted identifier")
		}
		if err != nil {
			return 0, err
		}
		return uescape(q, end, comments)
	case c == '"':
		end, err := doubled(q, i, '"', "quoted identifier")
		if err == nil && end == i+2 {
			err = fmt.Errorf("zero-length quoted identifier at offset %d", i)
		}
		return end, err
	case c == '$':
		return pgDollar(q, i)
	case isDigit(c) || c == '.' && isDigit(next):
		return pgNumber(q, i)
	case pgIdentStart(c):
		j := i + 1
		for j < len(q) && (pgIdentStart(q[j]) || isDigit(q[j]) || q[j] == '$') {
			j++
		}
		return j, nil
	case strings.IndexByte(",()[].:+-*/%^<>=~!@#&|`?", c) >= 0:
		return i + 1, nil
	}
	return 0, fmt.Errorf("character %q at offset %d", c, i)
}

// pgString consumes a quoted string whose text starts at i, with its
// continuations ('a'<newline>'b' is one literal of the first one's kind,
// so an E” string stays an escape string). esc: backslash escapes (E”);
// dbl: ” is a quote (all but B” and X”, where it ends the literal and
// starts another, which lexes the same). comments: whether a line comment
// may stand between the lines (see token).
func pgString(q string, i int, esc, dbl, comments bool) (int, error) {
	start := i
	for {
		closed := false
		for i < len(q) && !closed {
			switch q[i] {
			case '\\':
				if !esc {
					if !dbl {
						i++ // B'' and X'' have no escapes in any mode
						continue
					}
					// A standard string reads the same whether
					// standard_conforming_strings is on or off unless
					// an odd run of backslashes stands before a quote,
					// or a client encoding glues a backslash to the
					// byte before it.
					r := i
					for r < len(q) && q[r] == '\\' {
						r++
					}
					if q[i-1] >= utf8.RuneSelf || r < len(q) && q[r] == '\'' && (r-i)%2 == 1 {
						return 0, fmt.Errorf("backslash before a quote or after a non-ASCII byte in a standard string at offset %d (its reading depends on standard_conforming_strings or the client encoding; use E'' or a parameter)", i)
					}
					i = r
					continue
				}
				if q[i-1] >= utf8.RuneSelf {
					// In a client encoding such as SJIS or GBK this
					// backslash byte would end a multibyte character.
					return 0, fmt.Errorf("backslash after a non-ASCII byte in an escape string at offset %d", i)
				}
				i += 2
			case '\'':
				if dbl && i+1 < len(q) && q[i+1] == '\'' {
					i += 2
					continue
				}
				i++
				closed = true
			default:
				i++
			}
		}
		if !closed || i > len(q) {
			return 0, fmt.Errorf("unterminated string starting at offset %d", start-1)
		}
		j, ok := pgContinuation(q, i)
		if !ok {
			return i, nil
		}
		if !comments && commented(q[i:j]) {
			return 0, fmt.Errorf("comment between the lines of the string continued at offset %d", j)
		}
		i = j + 1
	}
}

// pgContinuation reports whether the literal that ended just before i
// continues: blanks and line comments holding at least one newline, then
// a quote (scan.l's quotecontinue). It returns the index of that quote.
func pgContinuation(q string, i int) (int, bool) {
	newline := false
	for j := i; j < len(q); {
		switch c := q[j]; {
		case c == ' ' || c == '\t' || c == '\f':
			j++
		case c == '\n' || c == '\r':
			newline = true
			j++
		case c == '-' && j+1 < len(q) && q[j+1] == '-':
			j = lineComment(Postgres, q, j+2)
		case c == '\'' && newline:
			return j, true
		default:
			return 0, false
		}
	}
	return 0, false
}

// doubled consumes a run quoted by qc starting at i, where a doubled qc
// stands for itself and nothing else is special.
func doubled(q string, i int, qc byte, what string) (int, error) {
	for j := i + 1; j < len(q); j++ {
		if q[j] == qc {
			if j+1 < len(q) && q[j+1] == qc {
				j++
				continue
			}
			return j + 1, nil
		}
	}
	return 0, fmt.Errorf("unterminated %s starting at offset %d", what, i)
}

// uescape checks the optional UESCAPE clause after a U& literal ending at
// i. The server takes any one-character string other than a hex digit,
// '+', a quote or a blank; here only a plain '…' literal holding one
// printable ASCII character is accepted. comments: whether a comment may
// stand before the UESCAPE keyword or its string (see token).
func uescape(q string, i int, comments bool) (int, error) {
	j := skipTrivia(q, i)
	if j+7 > len(q) || !strings.EqualFold(q[j:j+7], "uescape") ||
		j+7 < len(q) && (pgIdentStart(q[j+7]) || isDigit(q[j+7]) || q[j+7] == '$') {
		return i, nil
	}
	k := skipTrivia(q, j+7)
	if !comments && (commented(q[i:j]) || commented(q[j+7:k])) {
		return 0, fmt.Errorf("comment in the UESCAPE clause at offset %d", j)
	}
	if k+3 > len(q) || q[k] != '\'' || q[k+2] != '\'' {
		return 0, fmt.Errorf("UESCAPE at offset %d is not followed by a one-character string", j)
	}
	e := q[k+1]
	if e <= ' ' || e >= 0x7f || isHex(e) || e == '+' || e == '\'' || e == '"' {
		return 0, fmt.Errorf("invalid UESCAPE character %q at offset %d", e, k+1)
	}
	if k+3 < len(q) && q[k+3] == '\'' {
		return 0, fmt.Errorf("UESCAPE string at offset %d is longer than one character", k)
	}
	if _, cont := pgContinuation(q, k+3); cont {
		return 0, fmt.Errorf("UESCAPE string at offset %d continues on another line", k)
	}
	return k + 3, nil
}

// commented reports whether trivia holds a comment, not blanks only.
func commented(trivia string) bool {
	return strings.TrimLeft(trivia, " \t\n\r\f") != ""
}

// skipTrivia returns the index of the first PostgreSQL token at or after
// i, or len(q) (also when a comment there is unterminated: the caller
// then meets it again and reports it).
func skipTrivia(q string, i int) int {
	for i < len(q) {
		n, err := trivia(Postgres, q, i)
		if n == 0 || err != nil {
			return i
		}
		i += n
	}
	return i
}

// pgDollar consumes a parameter ($1) or a dollar-quoted string ($$…$$,
// $tag$…$tag$) at q[i:].
func pgDollar(q string, i int) (int, error) {
	j := i + 1
	if j < len(q) && isDigit(q[j]) {
		for j < len(q) && isDigit(q[j]) {
			j++
		}
		if j < len(q) && pgIdentStart(q[j]) {
			return 0, fmt.Errorf("trailing junk after parameter at offset %d", i)
		}
		return j, nil
	}
	if j < len(q) && pgIdentStart(q[j]) {
		for j < len(q) && (pgIdentStart(q[j]) || isDigit(q[j])) {
			j++
		}
	}
	if j >= len(q) || q[j] != '$' {
		return 0, fmt.Errorf("'$' at offset %d is neither a parameter nor a dollar quote", i)
	}
	tag := q[i : j+1]
	end := strings.Index(q[j+1:], tag)
	if end < 0 {
		return 0, fmt.Errorf("unterminated dollar quote %s at offset %d", tag, i)
	}
	return j + 1 + end + len(tag), nil
}

// pgNumber consumes a numeric literal. A letter right after one is
// refused: PostgreSQL 15 calls it trailing junk, while older servers split
// "1e'…'" into 1 and an escape string.
func pgNumber(q string, i int) (int, error) {
	j := i
	for j < len(q) && isDigit(q[j]) {
		j++
	}
	if j < len(q) && q[j] == '.' && !(j+1 < len(q) && q[j+1] == '.') {
		j++
		for j < len(q) && isDigit(q[j]) {
			j++
		}
	}
	if j < len(q) && (q[j] == 'e' || q[j] == 'E') {
		k := j + 1
		if k < len(q) && (q[k] == '+' || q[k] == '-') {
			k++
		}
		if k < len(q) && isDigit(q[k]) {
			for k < len(q) && isDigit(q[k]) {
				k++
			}
			j = k
		}
	}
	if j < len(q) && pgIdentStart(q[j]) {
		return 0, fmt.Errorf("trailing junk after number at offset %d", i)
	}
	return j, nil
}

// lexSQLite consumes the token at q[i:] per SQLite's tokenize.c.
func lexSQLite(q string, i int) (int, error) {
	switch c := q[i]; {
	case c == '\'':
		return doubled(q, i, c, "string")
	case c == '"' || c == '`':
		return doubled(q, i, c, "quoted identifier")
	case c == '[':
		j := strings.IndexByte(q[i:], ']')
		if j < 0 {
			return 0, fmt.Errorf("unterminated [identifier] at offset %d", i)
		}
		return i + j + 1, nil
	case c == '$' || c == ':' || c == '@' || c == '#':
		return 0, fmt.Errorf("named parameter %q at offset %d (only ? and %s are supported)", c, i, Marker)
	case wordByte(c):
		return word(SQLite, q, i), nil
	case strings.IndexByte(",()].+-*/%<>=!|&~", c) >= 0:
		return i + 1, nil
	default:
		return 0, fmt.Errorf("character %q at offset %d", c, i)
	}
}

// lexMySQL consumes the token at q[i:]. Whether a backslash escapes in a
// string depends on the server's sql_mode (NO_BACKSLASH_ESCAPES), and
// whether a byte belongs to a multibyte character on the connection's
// character set (GBK, SJIS, Big5 can hide '\' and '`' inside one), so a
// backslash in a literal and a non-ASCII byte outside strings and
// comments are refused. Whether "…" is a string or an identifier
// (ANSI_QUOTES) does not change where it ends.
func lexMySQL(q string, i int) (int, error) {
	switch c := q[i]; {
	case c == '\'' || c == '"':
		end, err := doubled(q, i, c, "string")
		if err == nil && strings.IndexByte(q[i:end], '\\') >= 0 {
			err = fmt.Errorf("backslash in the MySQL string at offset %d (its meaning depends on sql_mode; pass the value as a parameter)", i)
		}
		return end, err
	case c == '`':
		end, err := doubled(q, i, c, "quoted identifier")
		if err == nil && !ascii(q[i:end]) {
			err = fmt.Errorf("non-ASCII MySQL identifier at offset %d", i)
		}
		return end, err
	case c >= utf8.RuneSelf:
		return 0, fmt.Errorf("non-ASCII byte outside a MySQL string at offset %d", i)
	case wordByte(c):
		return word(MySQL, q, i), nil
	case strings.IndexByte(",()[].:+-*/%^<>=~!@&|", c) >= 0:
		return i + 1, nil
	default:
		return 0, fmt.Errorf("character %q at offset %d", c, i)
	}
}

// word consumes a run of identifier or number characters (ASCII only for
// MySQL, see lexMySQL). In SQLite and MySQL a prefix letter (X'…', N'…', _utf8'…') does not change how the
// quoted text that follows is lexed, so words need no finer split.
func word(d Dialect, q string, i int) int {
	for i < len(q) && wordByte(q[i]) && !(d == MySQL && q[i] >= utf8.RuneSelf) {
		i++
	}
	return i
}

// wordByte reports whether c continues an identifier or a number (the
// same set in all three dialects); a Marker touching one would become part
// of it once rewritten ("x{tenant}" as "x$2", "{tenant}1" as "?1").
func wordByte(c byte) bool {
	return isDigit(c) || c == '$' || pgIdentStart(c)
}

func pgIdentStart(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || c >= utf8.RuneSelf
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isHex(c byte) bool { return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

func ascii(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
