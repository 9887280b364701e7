package adopt

import (
	"fmt"
	"strings"
)

// token is one lexical token of SQLite DDL.
type token struct {
	kind byte   // 'w' bare word, 'i' quoted identifier, 's' string, 'n' number, 'p' punctuation, 'b' blob
	text string // as written (a quoted identifier without its quotes)
	pos  int
}

// lexSQLite splits SQLite DDL into tokens, the way SQLite's tokenizer
// does for the forms DDL uses: bare words, "…", `…` and […] identifiers,
// '…' strings (with doubled quotes), X'…' blobs, numbers, operators and
// punctuation. Comments are refused rather than skipped (sqlite_master
// keeps them verbatim, and nothing this package copies needs one), and so
// is anything unterminated or not recognised.
func lexSQLite(sql string) ([]token, error) {
	var out []token
	for i := 0; i < len(sql); {
		c := sql[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			i++
		case c == '-' && i+1 < len(sql) && sql[i+1] == '-', c == '/' && i+1 < len(sql) && sql[i+1] == '*':
			return nil, fmt.Errorf("comment at byte %d", i)
		case (c == 'x' || c == 'X') && i+1 < len(sql) && sql[i+1] == '\'':
			j := strings.IndexByte(sql[i+2:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unterminated blob at byte %d", i)
			}
			out = append(out, token{'b', sql[i : i+3+j], i})
			i += 3 + j
		case isWordStart(c):
			j := i + 1
			for j < len(sql) && isWordPart(sql[j]) {
				j++
			}
			out = append(out, token{'w', sql[i:j], i})
			i = j
		case c >= '0' && c <= '9' || c == '.' && i+1 < len(sql) && sql[i+1] >= '0' && sql[i+1] <= '9':
			j := i + 1
			for j < len(sql) && (sql[j] >= '0' && sql[j] <= '9' || sql[j] == '.' || sql[j] == 'e' || sql[j] == 'E' ||
				sql[j] == 'x' || sql[j] == 'X' || sql[j] >= 'a' && sql[j] <= 'f' || sql[j] >= 'A' && sql[j] <= 'F' || sql[j] == '_') {
				j++
			}
			out = append(out, token{'n', sql[i:j], i})
			i = j
		case c == '\'' || c == '"' || c == '`' || c == '[':
			end := c
			if c == '[' {
				end = ']'
			}
			j := i + 1
			var b strings.Builder
			for {
				if j >= len(sql) {
					return nil, fmt.Errorf("unterminated quote at byte %d", i)
				}
				if sql[j] == end {
					if end != ']' && j+1 < len(sql) && sql[j+1] == end {
						b.WriteByte(end)
						j += 2
						continue
					}
					break
				}
				b.WriteByte(sql[j])
				j++
			}
			if c == '\'' {
				out = append(out, token{'s', sql[i : j+1], i})
			} else {
				out = append(out, token{'i', b.String(), i})
			}
			i = j + 1
		case strings.IndexByte("(),.+-*/%<>=!|&~", c) >= 0:
			out = append(out, token{'p', string(c), i})
			i++
		default:
			return nil, fmt.Errorf("character %q at byte %d", c, i)
		}
	}
	return out, nil
}

func isWordStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
}

func isWordPart(c byte) bool {
	return isWordStart(c) || c >= '0' && c <= '9' || c == '$'
}

// createTableWords are the keywords a CREATE TABLE statement may use for
// this package to rebuild the table from SQLite's pragmas without losing
// anything. A word outside them (CONSTRAINT, COLLATE, GENERATED, AS,
// WITHOUT, STRICT, CONFLICT, DEFERRABLE, MATCH, DESC, …) means the table
// has something the pragmas do not describe, and it is refused.
var createTableWords = map[string]bool{
	"CREATE": true, "TABLE": true, "IF": true, "NOT": true, "EXISTS": true, "PRIMARY": true, "KEY": true,
	"ASC": true, "AUTOINCREMENT": true, "NULL": true, "UNIQUE": true, "DEFAULT": true, "REFERENCES": true,
	"ON": true, "DELETE": true, "UPDATE": true, "CASCADE": true, "RESTRICT": true, "SET": true, "NO": true,
	"ACTION": true, "FOREIGN": true, "TRUE": true, "FALSE": true, "CHECK": true,
	"CURRENT_TIMESTAMP": true, "CURRENT_DATE": true, "CURRENT_TIME": true,
}

// createTableChecks lexes a CREATE TABLE statement, refuses a word that
// is neither in createTableWords nor in known (the table's and columns'
// names, the words of their declared types and defaults), and returns
// the text of each CHECK (…) constraint, which the rebuild copies as a
// table constraint (a column CHECK means the same as a table one).
func createTableChecks(sql string, known map[string]bool) ([]string, error) {
	toks, err := lexSQLite(sql)
	if err != nil {
		return nil, err
	}
	var checks []string
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		if t.kind != 'w' {
			continue
		}
		up := strings.ToUpper(t.text)
		if up == "CHECK" {
			if i+1 >= len(toks) || toks[i+1].text != "(" || toks[i+1].kind != 'p' {
				return nil, fmt.Errorf("CHECK without a parenthesis at byte %d", t.pos)
			}
			depth, j := 0, i+1
			for ; j < len(toks); j++ {
				if toks[j].kind == 'p' && toks[j].text == "(" {
					depth++
				} else if toks[j].kind == 'p' && toks[j].text == ")" {
					depth--
					if depth == 0 {
						break
					}
				}
			}
			if j >= len(toks) {
				return nil, fmt.Errorf("unbalanced CHECK at byte %d", t.pos)
			}
			checks = append(checks, sql[toks[i+1].pos:toks[j].pos+1])
			i = j
			continue
		}
		if !createTableWords[up] && !known[up] {
			return nil, fmt.Errorf("%q at byte %d is not something the rebuild reproduces", t.text, t.pos)
		}
	}
	return checks, nil
}

// words adds the upper-cased bare words of sql to set.
func words(sql string, set map[string]bool) error {
	toks, err := lexSQLite(sql)
	if err != nil {
		return err
	}
	for _, t := range toks {
		if t.kind == 'w' {
			set[strings.ToUpper(t.text)] = true
		}
	}
	return nil
}
