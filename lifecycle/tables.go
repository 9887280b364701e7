package lifecycle

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// tenantColumn is the column that makes a table a tenant table: every
// table with it, in the schemas on the search path (PostgreSQL) or in the
// main database (SQLite), is exported, imported and deleted, found in the
// catalog rather than listed by hand.
const tenantColumn = "tenant_id"

// querier is *sql.DB, *sql.Tx or *sql.Conn.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// table is one table as the catalog describes it.
type table struct {
	name    string // "schema.table" on PostgreSQL, "table" on SQLite: the archive's name
	quoted  string // the same, quoted for SQL
	columns []column
	pk      []string
	fks     []foreignKey
	tenant  bool // has tenantColumn
}

type column struct {
	name       string
	insertable bool // not generated
}

// foreignKey is one foreign key of a table: cols reference parent's
// parentCols (parent named like table.name).
type foreignKey struct {
	cols       []string
	parent     string
	parentCols []string
}

func (t *table) column(name string) (column, bool) {
	for _, c := range t.columns {
		if c.name == name {
			return c, true
		}
	}
	return column{}, false
}

// quoteIdent quotes one identifier for both dialects.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// catalog reads every table in the schemas on the search path (on
// PostgreSQL; SQLite's main schema), tenant or not. Tables in other
// schemas are outside export, import, delete and verify.
func (m *Manager) catalog(ctx context.Context, q querier) ([]*table, error) {
	var ts []*table
	var err error
	if m.dialect == Postgres {
		ts, err = pgCatalog(ctx, q)
	} else {
		ts, err = sqliteCatalog(ctx, q)
	}
	if err != nil {
		return nil, fmt.Errorf("lifecycle: read catalog: %w", err)
	}
	return ts, nil
}

// tenantTables returns the tenant tables, each after the tenant tables it
// references (parents first), so that rows go in in that order and out in
// the reverse.
func (m *Manager) tenantTables(ctx context.Context, q querier) ([]*table, error) {
	all, err := m.catalog(ctx, q)
	if err != nil {
		return nil, err
	}
	var ts []*table
	for _, t := range all {
		if t.tenant {
			ts = append(ts, t)
		}
	}
	return orderByReferences(ts), nil
}

// orderByReferences sorts tables so that a referenced table comes before
// the tables referencing it; a cycle keeps its tables in name order.
func orderByReferences(ts []*table) []*table {
	byName := map[string]*table{}
	for _, t := range ts {
		byName[t.name] = t
	}
	done := map[string]bool{}
	visiting := map[string]bool{}
	var out []*table
	var visit func(t *table)
	visit = func(t *table) {
		if done[t.name] || visiting[t.name] {
			return
		}
		visiting[t.name] = true
		for _, fk := range t.fks {
			if p := byName[fk.parent]; p != nil && p != t {
				visit(p)
			}
		}
		visiting[t.name] = false
		done[t.name] = true
		out = append(out, t)
	}
	for _, t := range ts {
		visit(t)
	}
	return out
}

func pgCatalog(ctx context.Context, q querier) ([]*table, error) {
	rows, err := q.QueryContext(ctx, `
SELECT c.oid::bigint, n.nspname, c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND n.nspname = ANY (current_schemas(false))
ORDER BY n.nspname, c.relname`)
	if err != nil {
		return nil, err
	}
	var ts []*table
	var oids []int64
	for rows.Next() {
		var oid int64
		var nsp, rel string
		if err := rows.Scan(&oid, &nsp, &rel); err != nil {
			rows.Close()
			return nil, err
		}
		ts = append(ts, &table{name: nsp + "." + rel, quoted: quoteIdent(nsp) + "." + quoteIdent(rel)})
		oids = append(oids, oid)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i, t := range ts {
		if err := pgTable(ctx, q, oids[i], t); err != nil {
			return nil, fmt.Errorf("table %s: %w", t.name, err)
		}
	}
	return ts, nil
}

func pgTable(ctx context.Context, q querier, oid int64, t *table) error {
	rows, err := q.QueryContext(ctx, `
SELECT a.attname, a.attgenerated = '',
	coalesce((SELECT true FROM pg_index i WHERE i.indrelid = a.attrelid AND i.indisprimary AND a.attnum = ANY (i.indkey)), false),
	coalesce((SELECT array_position(i.indkey::int2[], a.attnum) FROM pg_index i WHERE i.indrelid = a.attrelid AND i.indisprimary), 0)
FROM pg_attribute a
WHERE a.attrelid = $1::bigint::oid AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum`, oid)
	if err != nil {
		return err
	}
	type pkCol struct {
		name string
		pos  int
	}
	var pk []pkCol
	for rows.Next() {
		var c column
		var isPK bool
		var pos int
		if err := rows.Scan(&c.name, &c.insertable, &isPK, &pos); err != nil {
			rows.Close()
			return err
		}
		t.columns = append(t.columns, c)
		if c.name == tenantColumn {
			t.tenant = true
		}
		if isPK {
			pk = append(pk, pkCol{c.name, pos})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	slices.SortFunc(pk, func(a, b pkCol) int { return a.pos - b.pos })
	for _, c := range pk {
		t.pk = append(t.pk, c.name)
	}
	rows, err = q.QueryContext(ctx, `
SELECT pn.nspname || '.' || pc.relname,
	(SELECT json_agg(a.attname ORDER BY k.o) FROM unnest(con.conkey) WITH ORDINALITY k(n, o)
		JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n)::text,
	(SELECT json_agg(a.attname ORDER BY k.o) FROM unnest(con.confkey) WITH ORDINALITY k(n, o)
		JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n)::text
FROM pg_constraint con JOIN pg_class pc ON pc.oid = con.confrelid JOIN pg_namespace pn ON pn.oid = pc.relnamespace
WHERE con.contype = 'f' AND con.conrelid = $1::bigint::oid
ORDER BY con.conname`, oid)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var fk foreignKey
		var cols, pcols string
		if err := rows.Scan(&fk.parent, &cols, &pcols); err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(cols), &fk.cols); err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(pcols), &fk.parentCols); err != nil {
			return err
		}
		t.fks = append(t.fks, fk)
	}
	return rows.Err()
}

func sqliteCatalog(ctx context.Context, q querier) ([]*table, error) {
	rows, err := q.QueryContext(ctx, `SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY name`)
	if err != nil {
		return nil, err
	}
	var ts []*table
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return nil, err
		}
		ts = append(ts, &table{name: name, quoted: quoteIdent(name)})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, t := range ts {
		if err := sqliteTable(ctx, q, t); err != nil {
			return nil, fmt.Errorf("table %s: %w", t.name, err)
		}
	}
	resolveForeignKeys(ts)
	return ts, nil
}

func sqliteTable(ctx context.Context, q querier, t *table) error {
	rows, err := q.QueryContext(ctx, `SELECT name, pk, hidden FROM pragma_table_xinfo(?) ORDER BY cid`, t.name)
	if err != nil {
		return err
	}
	type pkCol struct {
		name string
		pos  int
	}
	var pk []pkCol
	for rows.Next() {
		var c column
		var pos, hidden int
		if err := rows.Scan(&c.name, &pos, &hidden); err != nil {
			rows.Close()
			return err
		}
		c.insertable = hidden == 0
		t.columns = append(t.columns, c)
		if c.name == tenantColumn {
			t.tenant = true
		}
		if pos > 0 {
			pk = append(pk, pkCol{c.name, pos})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	slices.SortFunc(pk, func(a, b pkCol) int { return a.pos - b.pos })
	for _, c := range pk {
		t.pk = append(t.pk, c.name)
	}
	rows, err = q.QueryContext(ctx, `SELECT id, "table", "from", coalesce("to", '') FROM pragma_foreign_key_list(?) ORDER BY id, seq`, t.name)
	if err != nil {
		return err
	}
	defer rows.Close()
	last := -1
	for rows.Next() {
		var id int
		var parent, from, to string
		if err := rows.Scan(&id, &parent, &from, &to); err != nil {
			return err
		}
		if id != last {
			t.fks = append(t.fks, foreignKey{parent: parent})
			last = id
		}
		fk := &t.fks[len(t.fks)-1]
		fk.cols = append(fk.cols, from)
		fk.parentCols = append(fk.parentCols, to)
	}
	return rows.Err()
}

// resolveForeignKeys completes SQLite's foreign keys. SQLite matches the
// table a REFERENCES clause names without regard to ASCII case, and
// pragma_foreign_key_list gives it as written: the parent is renamed to
// the catalog's spelling, so that every lookup by name finds it (a key
// into "Accounts" is a key into accounts), and so are the columns of both
// sides. A key that references the
// parent's primary key without naming its columns gets them. A parent
// that is not in the catalog keeps its name, and Import refuses it.
func resolveForeignKeys(ts []*table) {
	byName := map[string]*table{}
	for _, t := range ts {
		byName[asciiLower(t.name)] = t
	}
	for _, t := range ts {
		for i := range t.fks {
			fk := &t.fks[i]
			canonicalColumns(t, fk.cols)
			p := byName[asciiLower(fk.parent)]
			if p == nil {
				continue
			}
			fk.parent = p.name
			if slices.Contains(fk.parentCols, "") && len(p.pk) == len(fk.cols) {
				fk.parentCols = slices.Clone(p.pk)
			}
			canonicalColumns(p, fk.parentCols)
		}
	}
}

// canonicalColumns respells, in place, the names of t's columns as the
// catalog has them; a name t does not have is left as it is.
func canonicalColumns(t *table, names []string) {
	for i, n := range names {
		for _, c := range t.columns {
			if asciiLower(c.name) == asciiLower(n) {
				names[i] = c.name
				break
			}
		}
	}
}

// asciiLower folds ASCII letters only, as SQLite compares identifiers.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// orderBy is the ORDER BY clause that makes an export deterministic: the
// primary key, else (SQLite) the rowid, else (PostgreSQL) the whole row.
func (t *table) orderBy(d Dialect, alias string) string {
	if len(t.pk) > 0 {
		parts := make([]string, len(t.pk))
		for i, c := range t.pk {
			parts[i] = alias + "." + quoteIdent(c)
		}
		return strings.Join(parts, ", ")
	}
	if d == SQLite {
		return alias + ".rowid"
	}
	return alias + "::text"
}
