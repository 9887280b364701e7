package adopt

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/tenantwall/tenantwall/sqlscope"
)

// PhaseRebuild is the one phase of a SQLite plan: each table rebuilt
// with tenant_id, in one transaction for all of them.
const PhaseRebuild = "rebuild"

// InspectSQLite is Inspect for a SQLite database: it reads the tables
// (every table when tables is empty) from sqlite_master and SQLite's
// pragmas, and refuses, with ErrUnsupported, what a rebuild could not
// reproduce exactly: a CREATE TABLE that uses anything but columns with
// declared types, NOT NULL, DEFAULT, PRIMARY KEY (one column, ASC,
// AUTOINCREMENT), UNIQUE, REFERENCES/FOREIGN KEY without DEFERRABLE or
// MATCH, and CHECK (which is copied); generated columns; a table with
// tenant_id, triggers, a primary key of several columns, a unique index
// that backs no constraint or covers an expression; and a foreign key
// into the selection from a table outside it. It reads db as given: it
// sends no statement that changes anything.
//
// SQLite cannot alter constraints in place, so New plans a rebuild of
// every table in one transaction (see Rebuild). It is atomic, so there
// is nothing to resume: an interrupted run leaves the database as it was.
// Once it has run, the tables have tenant_id and InspectSQLite refuses
// them.
func InspectSQLite(ctx context.Context, db sqlscope.Querier, tables ...string) (Schema, error) {
	s := Schema{Dialect: sqlscope.SQLite, Name: "main"}
	for _, t := range tables {
		if err := checkName(t); err != nil {
			return s, err
		}
	}
	rows, err := db.QueryContext(ctx, `SELECT name, sql FROM sqlite_master WHERE type = 'table' ORDER BY name`)
	if err != nil {
		return s, fmt.Errorf("adopt: inspect: %w", err)
	}
	ddl := map[string]string{}
	var all []string
	for rows.Next() {
		var name string
		var text sql.NullString
		if err := rows.Scan(&name, &text); err != nil {
			rows.Close()
			return s, err
		}
		if strings.HasPrefix(name, "sqlite_") {
			continue // SQLite's own tables (sqlite_sequence, sqlite_stat1): reserved names
		}
		ddl[name] = text.String
		all = append(all, name)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return s, err
	}
	selected := tables
	if len(selected) == 0 {
		selected = all
	}
	var problems []string
	for _, name := range selected {
		if _, ok := ddl[name]; !ok {
			problems = append(problems, name+": no such table")
			continue
		}
		if err := checkName(name); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", name, err))
			continue
		}
		t, err := inspectSQLiteTable(ctx, db, name, ddl[name], &problems)
		if err != nil {
			return s, err
		}
		s.Tables = append(s.Tables, t)
	}
	if len(s.Tables) == 0 && len(problems) == 0 {
		problems = append(problems, "no tables")
	}
	for _, other := range all {
		if slices.Contains(selected, other) {
			continue
		}
		fks, err := sqliteForeignKeys(ctx, db, other)
		if err != nil {
			return s, err
		}
		for _, fk := range fks {
			if slices.Contains(selected, fk.RefTable) {
				problems = append(problems, fmt.Sprintf("%s: a foreign key of %s, which is not adopted, references it: adopt %s too, or drop the foreign key", fk.RefTable, other, other))
			}
		}
	}
	if len(problems) > 0 {
		return s, unsupported(s.Name, problems)
	}
	// A foreign key that names no parent columns references the parent's
	// primary key.
	for i := range s.Tables {
		for j, fk := range s.Tables[i].ForeignKeys {
			if len(fk.RefColumns) > 0 && fk.RefColumns[0] != "" {
				continue
			}
			if p, ok := s.table(fk.RefTable); ok {
				s.Tables[i].ForeignKeys[j].RefColumns = slices.Clone(p.PrimaryKey.Columns)
			}
		}
	}
	return s, nil
}

func inspectSQLiteTable(ctx context.Context, db sqlscope.Querier, name, ddl string, problems *[]string) (Table, error) {
	t := Table{Name: name}
	bad := func(format string, args ...any) {
		*problems = append(*problems, name+": "+fmt.Sprintf(format, args...))
	}
	known := map[string]bool{strings.ToUpper(name): true}
	rows, err := db.QueryContext(ctx, `SELECT name, type, "notnull", dflt_value, pk, hidden FROM pragma_table_xinfo(?) ORDER BY cid`, name)
	if err != nil {
		return t, fmt.Errorf("adopt: inspect %s: %w", name, err)
	}
	var pk []string
	for rows.Next() {
		var c Column
		var def sql.NullString
		var pkn, hidden int
		if err := rows.Scan(&c.Name, &c.Type, &c.NotNull, &def, &pkn, &hidden); err != nil {
			rows.Close()
			return t, err
		}
		c.Default = def.String
		switch {
		case hidden != 0:
			bad("column %s is generated or hidden", c.Name)
		case c.Name == sqlscope.TenantColumn:
			bad("already has a tenant_id column (adopt only tables without one)")
		case checkName(c.Name) != nil:
			bad("column %v", checkName(c.Name))
		}
		if pkn > 0 {
			pk = append(pk, c.Name)
		}
		known[strings.ToUpper(c.Name)] = true
		if err := words(c.Type, known); err != nil {
			bad("column %s: type %q: %v", c.Name, c.Type, err)
		}
		if err := checkDefault(c.Default); err != nil {
			bad("column %s: default %q: %v", c.Name, c.Default, err)
		} else {
			_ = words(c.Default, known)
		}
		t.Columns = append(t.Columns, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return t, err
	}
	if len(pk) != 1 {
		bad("the primary key must be one column, not (%s)", strings.Join(pk, ", "))
	} else {
		t.PrimaryKey = Key{Name: name + "_pkey", Columns: pk}
	}
	if err := sqliteIndexes(ctx, db, &t, bad); err != nil {
		return t, err
	}
	fks, err := sqliteForeignKeys(ctx, db, name)
	if err != nil {
		return t, err
	}
	for _, fk := range fks {
		known[strings.ToUpper(fk.RefTable)] = true
		for _, c := range fk.RefColumns {
			known[strings.ToUpper(c)] = true
		}
		if fk.Name == "" {
			bad("foreign key into %s: MATCH is not supported", fk.RefTable)
		}
	}
	t.ForeignKeys = fks
	var triggers int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?`, name).Scan(&triggers); err != nil {
		return t, err
	}
	if triggers > 0 {
		bad("has %d trigger(s), which dropping the table would drop", triggers)
	}
	checks, err := createTableChecks(ddl, known)
	if err != nil {
		bad("CREATE TABLE: %v", err)
	}
	t.Checks = checks
	toks, _ := lexSQLite(ddl)
	for _, tk := range toks {
		if tk.kind == 'w' && strings.EqualFold(tk.text, "AUTOINCREMENT") {
			t.AutoIncrement = true
		}
	}
	return t, db.QueryRowContext(ctx, `SELECT count(*) FROM "`+name+`"`).Scan(&t.Rows)
}

func sqliteIndexes(ctx context.Context, db sqlscope.Querier, t *Table, bad func(string, ...any)) error {
	rows, err := db.QueryContext(ctx, `SELECT l.name, l."unique", l.origin, coalesce(m.sql, '')
FROM pragma_index_list(?) AS l LEFT JOIN sqlite_master AS m ON m.type = 'index' AND m.name = l.name ORDER BY l.name`, t.Name)
	if err != nil {
		return err
	}
	type index struct {
		name, origin, sql string
		unique            bool
	}
	var idx []index
	for rows.Next() {
		var i index
		if err := rows.Scan(&i.name, &i.unique, &i.origin, &i.sql); err != nil {
			rows.Close()
			return err
		}
		idx = append(idx, i)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, i := range idx {
		switch {
		case i.origin == "pk":
		case i.origin == "u":
			var cols []string
			crow, err := db.QueryContext(ctx, `SELECT name FROM pragma_index_info(?) ORDER BY seqno`, i.name)
			if err != nil {
				return err
			}
			for crow.Next() {
				var c sql.NullString
				if err := crow.Scan(&c); err != nil {
					crow.Close()
					return err
				}
				if !c.Valid {
					bad("unique constraint %s covers an expression", i.name)
				}
				cols = append(cols, c.String)
			}
			crow.Close()
			if err := checkName(i.name); err != nil {
				bad("unique constraint %v", err)
			}
			t.Uniques = append(t.Uniques, Key{Name: i.name, Columns: cols})
		case i.unique:
			bad("unique index %s backs no constraint: it would stay unique across tenants; drop it, or make it a UNIQUE constraint of the table", i.name)
		default:
			if err := checkIndex(i.sql); err != nil {
				bad("index %s: %v", i.name, err)
			}
			t.Indexes = append(t.Indexes, i.sql)
		}
	}
	return nil
}

// sqliteForeignKeys reads table's foreign keys. One with a MATCH clause
// gets an empty Name, which the caller refuses.
func sqliteForeignKeys(ctx context.Context, db sqlscope.Querier, table string) ([]ForeignKey, error) {
	rows, err := db.QueryContext(ctx, `SELECT id, "table", "from", coalesce("to", ''), on_update, on_delete, match
FROM pragma_foreign_key_list(?) ORDER BY id, seq`, table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var fks []ForeignKey
	last := -1
	for rows.Next() {
		var id int
		var ref, from, to, upd, del, match string
		if err := rows.Scan(&id, &ref, &from, &to, &upd, &del, &match); err != nil {
			return nil, err
		}
		if id != last {
			fks = append(fks, ForeignKey{Name: fmt.Sprintf("%s_fk%d", table, id), RefTable: ref, OnDelete: sqliteAction(del), OnUpdate: sqliteAction(upd)})
			last = id
			if match != "NONE" {
				fks[len(fks)-1].Name = ""
			}
		}
		fk := &fks[len(fks)-1]
		fk.Columns = append(fk.Columns, from)
		fk.RefColumns = append(fk.RefColumns, to)
	}
	return fks, rows.Err()
}

func sqliteAction(a string) string {
	if a == "NO ACTION" {
		return ""
	}
	return a
}

// checkDefault accepts a DEFAULT expression whose words are literals
// (NULL, TRUE, FALSE, CURRENT_*) or function names (followed by "(").
func checkDefault(def string) error {
	toks, err := lexSQLite(def)
	if err != nil {
		return err
	}
	for i, t := range toks {
		if t.kind != 'w' {
			continue
		}
		switch strings.ToUpper(t.text) {
		case "NULL", "TRUE", "FALSE", "CURRENT_TIMESTAMP", "CURRENT_DATE", "CURRENT_TIME":
			continue
		}
		if i+1 < len(toks) && toks[i+1].kind == 'p' && toks[i+1].text == "(" {
			continue
		}
		return fmt.Errorf("%q is neither a literal nor a function call", t.text)
	}
	return nil
}

// checkIndex accepts a CREATE INDEX statement (not UNIQUE) that lexes.
func checkIndex(sql string) error {
	toks, err := lexSQLite(sql)
	if err != nil {
		return err
	}
	if len(toks) < 3 || !strings.EqualFold(toks[0].text, "CREATE") || !strings.EqualFold(toks[1].text, "INDEX") {
		return fmt.Errorf("not a CREATE INDEX statement: %.60q", sql)
	}
	return nil
}

// checkSQLiteTable validates what a SQLite rebuild copies as SQL text, for
// hand-built schemas as much as inspected ones.
func checkSQLiteTable(s Schema, t Table) error {
	if len(t.Columns) == 0 {
		return fmt.Errorf("%w: %s: a SQLite table needs its Columns", ErrUnsupported, t.Name)
	}
	names := map[string]bool{}
	for _, c := range t.Columns {
		if err := checkName(c.Name); err != nil {
			return fmt.Errorf("table %s: %w", t.Name, err)
		}
		if c.Name == sqlscope.TenantColumn {
			return fmt.Errorf("%w: %s already has tenant_id", ErrUnsupported, t.Name)
		}
		names[c.Name] = true
		toks, err := lexSQLite(c.Type)
		if err != nil {
			return fmt.Errorf("%w: %s.%s: type %q: %v", ErrUnsupported, t.Name, c.Name, c.Type, err)
		}
		for _, tk := range toks {
			if tk.kind != 'w' && tk.kind != 'n' && !(tk.kind == 'p' && strings.Contains("(),+-", tk.text)) {
				return fmt.Errorf("%w: %s.%s: type %q", ErrUnsupported, t.Name, c.Name, c.Type)
			}
		}
		if err := checkDefault(c.Default); err != nil {
			return fmt.Errorf("%w: %s.%s: default %q: %v", ErrUnsupported, t.Name, c.Name, c.Default, err)
		}
	}
	for _, k := range append([]Key{t.PrimaryKey}, t.Uniques...) {
		for _, c := range k.Columns {
			if !names[c] {
				return fmt.Errorf("%w: %s: key %s names column %s, which the table does not have", ErrUnsupported, t.Name, k.Name, c)
			}
		}
	}
	for _, c := range t.Checks {
		toks, err := lexSQLite(c)
		if err != nil || len(toks) < 2 || toks[0].text != "(" || toks[len(toks)-1].text != ")" {
			return fmt.Errorf("%w: %s: CHECK %q is not one parenthesised expression", ErrUnsupported, t.Name, c)
		}
		depth := 0
		for i, tk := range toks {
			if tk.kind == 'p' && tk.text == "(" {
				depth++
			} else if tk.kind == 'p' && tk.text == ")" {
				depth--
				if depth == 0 && i != len(toks)-1 {
					return fmt.Errorf("%w: %s: CHECK %q is not one parenthesised expression", ErrUnsupported, t.Name, c)
				}
			}
		}
	}
	for _, ix := range t.Indexes {
		if err := checkIndex(ix); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrUnsupported, t.Name, err)
		}
	}
	for _, fk := range t.ForeignKeys {
		if _, ok := s.table(fk.RefTable); ok && (fk.OnDelete == "SET NULL" || fk.OnDelete == "SET DEFAULT") {
			return fmt.Errorf("%w: %s: foreign key %s: ON DELETE %s would clear tenant_id too (SQLite has no column list for it)", ErrUnsupported, t.Name, fk.Name, fk.OnDelete)
		}
		if fk.Deferrable {
			return fmt.Errorf("%w: %s: foreign key %s: DEFERRABLE is not supported on SQLite", ErrUnsupported, t.Name, fk.Name)
		}
	}
	return nil
}

func quoteIdent(n string) string { return `"` + n + `"` }

// buildSQLite plans the rebuild of each table, parents first.
func (p *Plan) buildSQLite(order []Table) error {
	for _, t := range order {
		if err := checkSQLiteTable(p.schema, t); err != nil {
			return err
		}
	}
	for _, t := range order {
		q := quoteIdent(t.Name)
		tmp := name("tenantwall_new_", t.Name)
		var defs []string
		var cols []string
		for _, c := range t.Columns {
			d := quoteIdent(c.Name)
			if c.Type != "" {
				d += " " + c.Type
			}
			if c.Name == t.PrimaryKey.Columns[0] {
				d += " PRIMARY KEY"
				if t.AutoIncrement {
					d += " AUTOINCREMENT"
				}
			}
			if c.NotNull {
				d += " NOT NULL"
			}
			if c.Default != "" {
				d += " DEFAULT " + c.Default
			}
			defs = append(defs, d)
			cols = append(cols, quoteIdent(c.Name))
		}
		defs = append(defs, sqlscope.TenantColumn+` TEXT NOT NULL CHECK (`+sqlscope.TenantColumn+` <> '')`)
		for _, k := range append([]Key{t.PrimaryKey}, t.Uniques...) {
			defs = append(defs, `UNIQUE (`+sqlscope.TenantColumn+`, `+quoteList(k.Columns)+`)`)
		}
		for _, fk := range t.ForeignKeys {
			d := `FOREIGN KEY (` + quoteList(fk.Columns) + `) REFERENCES ` + quoteIdent(fk.RefTable) + ` (` + quoteList(fk.RefColumns) + `)`
			if _, ok := p.schema.table(fk.RefTable); ok {
				d = `FOREIGN KEY (` + sqlscope.TenantColumn + `, ` + quoteList(fk.Columns) + `) REFERENCES ` + quoteIdent(fk.RefTable) +
					` (` + sqlscope.TenantColumn + `, ` + quoteList(fk.RefColumns) + `)`
			}
			if fk.OnDelete != "" && fk.OnDelete != "NO ACTION" {
				d += " ON DELETE " + fk.OnDelete
			}
			if fk.OnUpdate != "" && fk.OnUpdate != "NO ACTION" {
				d += " ON UPDATE " + fk.OnUpdate
			}
			defs = append(defs, d)
		}
		for _, c := range t.Checks {
			defs = append(defs, "CHECK "+c)
		}
		assign, args := p.sqliteAssign(t)
		st := Step{Phase: PhaseRebuild, Table: t.Name, Kind: Rebuild, Statements: []Statement{
			{SQL: `SELECT count(*), coalesce(sum(tid IS NULL OR tid = ''), 0) FROM (SELECT ` + assign + ` AS tid FROM ` + q + `)`, Args: args},
			{SQL: `CREATE TABLE ` + tmp + ` (` + "\n\t" + strings.Join(defs, ",\n\t") + `)`},
			{SQL: `INSERT INTO ` + tmp + ` (` + strings.Join(cols, ", ") + `, ` + sqlscope.TenantColumn + `) SELECT ` +
				strings.Join(cols, ", ") + `, ` + assign + ` FROM ` + q, Args: args},
			{SQL: `DROP TABLE ` + q},
			{SQL: `ALTER TABLE ` + tmp + ` RENAME TO ` + q},
		}}
		for _, ix := range t.Indexes {
			st.Statements = append(st.Statements, Statement{SQL: ix})
		}
		p.steps = append(p.steps, st)
	}
	return nil
}

// sqliteAssign is the expression that gives a row of t (read FROM t)
// its tenant.
func (p *Plan) sqliteAssign(t Table) (string, []any) {
	a := p.assign[t.Name]
	switch a.kind {
	case assignConstant:
		return "?", []any{a.tenantID}
	case assignExpression:
		return "CAST((" + a.expr + ") AS TEXT)", nil
	default:
		fk, _ := a.foreignKey(p.schema, t)
		return `(SELECT parent.` + sqlscope.TenantColumn + ` FROM ` + quoteIdent(fk.RefTable) + ` AS parent WHERE parent.` +
			quoteIdent(fk.RefColumns[0]) + ` = ` + quoteIdent(t.Name) + `.` + quoteIdent(fk.Columns[0]) + `)`, nil
	}
}

// runSQLite runs a SQLite plan: every rebuild in one transaction, with
// foreign key enforcement off (it is a no-op inside a transaction, so it
// is switched on the connection before BEGIN) and legacy_alter_table on,
// so that renaming the new table neither rewrites nor trips over the
// views and foreign keys that name the old one; PRAGMA foreign_key_check
// must find nothing before COMMIT. Both settings are restored after.
func runSQLite(ctx context.Context, db *sql.DB, p *Plan, o runOptions) (rep *Report, err error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	var fkOn, legacy bool
	if err := conn.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&fkOn); err != nil {
		return nil, err
	}
	if err := conn.QueryRowContext(ctx, `PRAGMA legacy_alter_table`).Scan(&legacy); err != nil {
		return nil, err
	}
	restore := func() {
		_, _ = conn.ExecContext(context.Background(), fmt.Sprintf(`PRAGMA foreign_keys = %t`, fkOn))
		_, _ = conn.ExecContext(context.Background(), fmt.Sprintf(`PRAGMA legacy_alter_table = %t`, legacy))
	}
	defer restore()
	for _, s := range []string{`PRAGMA foreign_keys = OFF`, `PRAGMA legacy_alter_table = ON`, `BEGIN IMMEDIATE`} {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			return nil, err
		}
	}
	defer func() {
		if err != nil {
			_, _ = conn.ExecContext(context.Background(), `ROLLBACK`)
		}
	}()
	rep = &Report{}
	for i, st := range p.steps {
		pr := Progress{Step: i + 1, Steps: len(p.steps), Phase: st.Phase, Table: st.Table}
		if o.progress != nil {
			o.progress(pr)
		}
		tr := TableReport{Table: st.Table}
		var unassigned int64
		if err := conn.QueryRowContext(ctx, st.Statements[0].SQL, st.Statements[0].Args...).Scan(&tr.RowsBefore, &unassigned); err != nil {
			return nil, fmt.Errorf("adopt: %s: %w", st.Table, err)
		}
		if unassigned > 0 {
			return nil, fmt.Errorf("%w: %s has %d row(s) for which the assignment gives no tenant: fix or delete them, then run again (nothing was changed)", ErrUnassigned, st.Table, unassigned)
		}
		for _, s := range st.Statements[1:] {
			if _, err := conn.ExecContext(ctx, s.SQL, s.Args...); err != nil {
				return nil, fmt.Errorf("adopt: %s: %s: %w", st.Table, firstLine(s.SQL), err)
			}
		}
		if err := conn.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(`+sqlscope.TenantColumn+` IS NULL OR `+sqlscope.TenantColumn+` = ''), 0) FROM `+quoteIdent(st.Table)).
			Scan(&tr.RowsAfter, &tr.NoTenant); err != nil {
			return nil, err
		}
		if tr.RowsAfter != tr.RowsBefore {
			tr.Problems = append(tr.Problems, fmt.Sprintf("%d rows before the rebuild, %d after", tr.RowsBefore, tr.RowsAfter))
		}
		if tr.NoTenant > 0 {
			tr.Problems = append(tr.Problems, fmt.Sprintf("%d row(s) without a tenant", tr.NoTenant))
		}
		rep.Tables = append(rep.Tables, tr)
		pr.Rows, pr.Total, pr.Done = tr.RowsAfter, tr.RowsBefore, true
		if o.progress != nil {
			o.progress(pr)
		}
	}
	if err := rep.Err(); err != nil {
		return rep, err
	}
	rows, err := conn.QueryContext(ctx, `PRAGMA foreign_key_check`)
	if err != nil {
		return nil, err
	}
	var broken []string
	for rows.Next() {
		var table, parent string
		var rowid sql.NullInt64
		var fkid int
		if err := rows.Scan(&table, &rowid, &parent, &fkid); err != nil {
			rows.Close()
			return nil, err
		}
		broken = append(broken, fmt.Sprintf("%s row %d references a missing %s row (or another tenant's)", table, rowid.Int64, parent))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(broken) > 0 {
		return rep, fmt.Errorf("%w: PRAGMA foreign_key_check:\n  - %s", ErrVerify, strings.Join(broken, "\n  - "))
	}
	if _, err := conn.ExecContext(ctx, `COMMIT`); err != nil {
		return nil, err
	}
	return rep, nil
}
