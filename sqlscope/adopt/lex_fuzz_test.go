package adopt

import (
	"strings"
	"testing"
)

// FuzzCreateTableChecks feeds the SQLite DDL reader arbitrary text: it
// must never panic, every token it returns must lie inside the input in
// order, and every CHECK it extracts must be one balanced parenthesised
// expression that the rebuild's own validation accepts.
func FuzzCreateTableChecks(f *testing.F) {
	for _, s := range []string{
		`CREATE TABLE t (id INTEGER PRIMARY KEY, a INT CHECK (a > 0), CHECK ((a) < 10))`,
		`CREATE TABLE "t" ([a] TEXT DEFAULT 'x''y', b BLOB DEFAULT X'00', CHECK (b <> ')'))`,
		`CREATE TABLE t (a CHECK (`, "CREATE TABLE t (a -- x\n)", `CREATE TABLE t (a TEXT COLLATE nocase)`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		toks, err := lexSQLite(sql)
		if err == nil {
			last := -1
			for _, tk := range toks {
				if tk.pos <= last || tk.pos >= len(sql) {
					t.Fatalf("token %q at %d out of order (last %d)", tk.text, tk.pos, last)
				}
				last = tk.pos
			}
		}
		checks, err := createTableChecks(sql, map[string]bool{"A": true, "B": true, "T": true, "ID": true, "INTEGER": true, "TEXT": true, "INT": true})
		if err != nil {
			return
		}
		for _, c := range checks {
			tbl := Table{Name: "t", PrimaryKey: Key{Name: "k", Columns: []string{"id"}}, Columns: []Column{{Name: "id"}}, Checks: []string{c}}
			if err := checkSQLiteTable(Schema{}, tbl); err != nil {
				t.Fatalf("extracted CHECK %q is refused: %v", c, err)
			}
			if !strings.Contains(sql, c) {
				t.Fatalf("CHECK %q is not from the input", c)
			}
		}
	})
}
