package adopt

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/tenantwall/tenantwall/sqlscope"
)

// Schema is what the planner needs to know of a PostgreSQL schema before
// adoption: its tables, their keys and the foreign keys between them.
// Inspect reads it from a live database; a hand-built Schema plans the
// same way (which is how the plan can be printed without a database).
// It is plain data, safe to copy and to encode as JSON.
type Schema struct {
	// Dialect is sqlscope.Postgres (the zero value means it too) or
	// sqlscope.SQLite, whose plan rebuilds the tables instead (see
	// InspectSQLite).
	Dialect sqlscope.Dialect `json:"dialect,omitempty"`
	// Name is the PostgreSQL schema, such as "public"; "main" for SQLite.
	Name string `json:"name"`
	// Tables are the tables to adopt.
	Tables []Table `json:"tables"`
}

// Table is one table to adopt.
type Table struct {
	// Name is the table's name inside Schema.Name, unquoted.
	Name string `json:"name"`
	// PrimaryKey is the table's primary key: one integer column, by whose
	// ranges the backfill proceeds.
	PrimaryKey Key `json:"primary_key"`
	// Uniques are the table's unique constraints. Each becomes unique per
	// tenant.
	Uniques []Key `json:"uniques,omitempty"`
	// ForeignKeys are the table's foreign keys. Those into other adopted
	// tables are rebuilt to include tenant_id; those into tables that are
	// not adopted (shared lookup tables) are left alone.
	ForeignKeys []ForeignKey `json:"foreign_keys,omitempty"`
	// Rows is the number of rows when the table was inspected.
	Rows int64 `json:"rows"`

	// SQLite only: what the rebuild recreates, as the database holds it.
	// Columns are the table's columns in order; AutoIncrement marks an
	// INTEGER PRIMARY KEY AUTOINCREMENT; Checks are the CHECK constraints'
	// parenthesised expressions; Indexes are the CREATE INDEX statements
	// of the table's other (non-unique) indexes.
	Columns       []Column `json:"columns,omitempty"`
	AutoIncrement bool     `json:"autoincrement,omitempty"`
	Checks        []string `json:"checks,omitempty"`
	Indexes       []string `json:"indexes,omitempty"`
}

// Column is one column of a SQLite table, for the rebuild.
type Column struct {
	Name    string `json:"name"`
	Type    string `json:"type,omitempty"`     // the declared type, such as "INTEGER" or "VARCHAR(80)"
	NotNull bool   `json:"not_null,omitempty"` // NOT NULL
	Default string `json:"default,omitempty"`  // the DEFAULT expression, empty for none
}

// Key is a primary key or unique constraint.
type Key struct {
	// Name is the constraint's name.
	Name string `json:"name"`
	// Columns are its columns, in order.
	Columns []string `json:"columns"`
}

// ForeignKey is a foreign key constraint.
type ForeignKey struct {
	// Name is the constraint's name.
	Name string `json:"name"`
	// Columns are the referencing columns, in order.
	Columns []string `json:"columns"`
	// RefTable is the referenced table, in the same schema.
	RefTable string `json:"ref_table"`
	// RefColumns are the referenced columns, in order.
	RefColumns []string `json:"ref_columns"`
	// OnDelete and OnUpdate are the referential actions, as SQL:
	// "NO ACTION", "RESTRICT", "CASCADE", "SET NULL" or "SET DEFAULT".
	// Empty means NO ACTION.
	OnDelete string `json:"on_delete,omitempty"`
	OnUpdate string `json:"on_update,omitempty"`
	// Deferrable and InitiallyDeferred are the constraint's timing.
	Deferrable        bool `json:"deferrable,omitempty"`
	InitiallyDeferred bool `json:"initially_deferred,omitempty"`
}

// table returns the table named name, if s has it.
func (s Schema) table(name string) (Table, bool) {
	for _, t := range s.Tables {
		if t.Name == name {
			return t, true
		}
	}
	return Table{}, false
}

// Inspect reads schema's tables from db (all ordinary tables in it when
// tables is empty) and checks that the planner understands each: one
// integer primary key column, no tenant_id yet, unique indexes only as
// constraints, no exclusion constraint, no partitioning or inheritance,
// and no foreign key into them from a table outside the selection. What
// it does not understand it refuses with ErrUnsupported, naming the
// table and the problem.
//
// Once a Run has started on schema, Inspect returns the Schema that run
// recorded before it changed anything, not the half-adopted catalog, so
// that a rerun after an interruption plans exactly the same steps. It
// refuses, with ErrPlanChanged, a table list that differs from the
// recorded one. The record of a finished run stays, and Inspect keeps
// returning its Schema (Run of its plan is then a no-op): tables created
// afterwards are created with tenant_id and isolated with
// sqlscope.EnableRLS.
func Inspect(ctx context.Context, db sqlscope.Querier, schema string, tables ...string) (Schema, error) {
	if _, err := sqlscope.QuoteIdent(schema); err != nil {
		return Schema{}, err
	}
	for _, t := range tables {
		if _, err := sqlscope.QuoteIdent(t); err != nil {
			return Schema{}, err
		}
	}
	if s, ok, err := recorded(ctx, db, schema); err != nil {
		return Schema{}, err
	} else if ok {
		if len(tables) > 0 {
			have := make([]string, len(s.Tables))
			for i, t := range s.Tables {
				have[i] = t.Name
			}
			want := slices.Clone(tables)
			slices.Sort(have)
			slices.Sort(want)
			if !slices.Equal(have, want) {
				return Schema{}, fmt.Errorf("%w: schema %s: the run in progress adopts %s, not %s",
					ErrPlanChanged, schema, strings.Join(have, ", "), strings.Join(want, ", "))
			}
		}
		return s, nil
	}
	return inspectCatalog(ctx, db, schema, tables)
}

// recorded returns the snapshot an earlier Run recorded for schema.
func recorded(ctx context.Context, db sqlscope.Querier, schema string) (Schema, bool, error) {
	var exists bool
	if err := db.QueryRowContext(ctx, `SELECT to_regclass('tenantwall.adopt_runs') IS NOT NULL`).Scan(&exists); err != nil {
		return Schema{}, false, fmt.Errorf("adopt: inspect %s: %w", schema, err)
	}
	if !exists {
		return Schema{}, false, nil
	}
	var raw []byte
	err := db.QueryRowContext(ctx, `SELECT snapshot FROM tenantwall.adopt_runs WHERE schema_name = $1`, schema).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return Schema{}, false, nil
	}
	if err != nil {
		return Schema{}, false, fmt.Errorf("adopt: read the recorded run of %s: %w", schema, err)
	}
	var s Schema
	if err := json.Unmarshal(raw, &s); err != nil {
		return Schema{}, false, fmt.Errorf("adopt: decode the recorded run of %s: %w", schema, err)
	}
	return s, true, nil
}

func inspectCatalog(ctx context.Context, db sqlscope.Querier, schema string, want []string) (Schema, error) {
	s := Schema{Name: schema}
	rows, err := db.QueryContext(ctx, `
SELECT c.relname, c.relkind::text, c.relispartition OR EXISTS (SELECT FROM pg_inherits i WHERE i.inhrelid = c.oid OR i.inhparent = c.oid),
       EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND (cardinality($2::text[]) = 0 OR c.relname = ANY ($2::text[]))
ORDER BY c.relname`, schema, textArray(want))
	if err != nil {
		return s, fmt.Errorf("adopt: inspect %s: %w", schema, err)
	}
	var problems []string
	for rows.Next() {
		var name, kind string
		var inherits, hasTenant bool
		if err := rows.Scan(&name, &kind, &inherits, &hasTenant); err != nil {
			rows.Close()
			return s, err
		}
		switch {
		case kind != "r" || inherits:
			problems = append(problems, name+": partitioned or inherited tables are not supported")
		case hasTenant:
			problems = append(problems, name+": already has a tenant_id column (adopt only tables without one; isolate tenant tables with sqlscope.EnableRLS)")
		case checkName(name) != nil:
			problems = append(problems, fmt.Sprintf("%s: %v", name, checkName(name)))
		}
		s.Tables = append(s.Tables, Table{Name: name})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return s, err
	}
	for _, w := range want {
		if _, ok := s.table(w); !ok {
			problems = append(problems, w+": no such table in schema "+schema)
		}
	}
	if len(s.Tables) == 0 && len(problems) == 0 {
		problems = append(problems, "no tables")
	}
	if len(problems) > 0 {
		return s, unsupported(schema, problems)
	}
	for i := range s.Tables {
		if err := inspectTable(ctx, db, schema, &s.Tables[i], &problems); err != nil {
			return s, err
		}
	}
	if err := inspectIncoming(ctx, db, s, &problems); err != nil {
		return s, err
	}
	if len(problems) > 0 {
		return s, unsupported(schema, problems)
	}
	return s, nil
}

func unsupported(schema string, problems []string) error {
	return fmt.Errorf("%w: schema %s:\n  - %s", ErrUnsupported, schema, strings.Join(problems, "\n  - "))
}

// checkName refuses an identifier sqlscope.QuoteIdent refuses.
func checkName(name string) error {
	_, err := sqlscope.QuoteIdent(name)
	return err
}

var actions = map[string]string{"a": "", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}

func inspectTable(ctx context.Context, db sqlscope.Querier, schema string, t *Table, problems *[]string) error {
	q := quote(schema, t.Name)
	rows, err := db.QueryContext(ctx, `
SELECT con.conname, con.contype::text,
       ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(n, o) JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.o)::text[],
       coalesce((SELECT format_type(a.atttypid, NULL) FROM pg_attribute a WHERE a.attrelid = con.conrelid AND a.attnum = con.conkey[1]), ''),
       coalesce(fn.nspname, ''), coalesce(f.relname, ''),
       ARRAY(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY k(n, o) JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n ORDER BY k.o)::text[],
       con.confdeltype::text, con.confupdtype::text, con.confmatchtype::text, con.condeferrable, con.condeferred,
       con.confdelsetcols IS NOT NULL
FROM pg_constraint con
LEFT JOIN pg_class f ON f.oid = con.confrelid
LEFT JOIN pg_namespace fn ON fn.oid = f.relnamespace
WHERE con.conrelid = $1::regclass
ORDER BY con.contype, con.conname`, q)
	if err != nil {
		return fmt.Errorf("adopt: inspect %s: %w", q, err)
	}
	defer rows.Close()
	hasPK := false
	for rows.Next() {
		var name, kind, typ, refSchema, refTable, del, upd, match string
		var cols, refCols pgTextArray
		var deferrable, deferred, setCols bool
		if err := rows.Scan(&name, &kind, &cols, &typ, &refSchema, &refTable, &refCols, &del, &upd, &match, &deferrable, &deferred, &setCols); err != nil {
			return err
		}
		if err := checkName(name); err != nil {
			*problems = append(*problems, fmt.Sprintf("%s: constraint %v", t.Name, err))
			continue
		}
		for _, c := range append(slices.Clone(cols), refCols...) {
			if err := checkName(c); err != nil {
				*problems = append(*problems, fmt.Sprintf("%s: constraint %s: column %v", t.Name, name, err))
			}
		}
		switch kind {
		case "p":
			hasPK = true
			t.PrimaryKey = Key{Name: name, Columns: cols}
			if len(cols) != 1 || (typ != "smallint" && typ != "integer" && typ != "bigint") {
				*problems = append(*problems, fmt.Sprintf("%s: primary key %s is (%s %s): the backfill needs one smallint, integer or bigint column", t.Name, name, strings.Join(cols, ", "), typ))
			}
		case "u":
			t.Uniques = append(t.Uniques, Key{Name: name, Columns: cols})
		case "f":
			if refSchema != schema {
				// A foreign key into another schema points at a table that
				// is not adopted: left alone.
				continue
			}
			fk := ForeignKey{Name: name, Columns: cols, RefTable: refTable, RefColumns: refCols,
				OnDelete: actions[del], OnUpdate: actions[upd], Deferrable: deferrable, InitiallyDeferred: deferred}
			if setCols {
				*problems = append(*problems, fmt.Sprintf("%s: foreign key %s: ON DELETE SET NULL/DEFAULT with a column list is not supported", t.Name, name))
			}
			if match == "f" && len(cols) > 1 {
				*problems = append(*problems, fmt.Sprintf("%s: foreign key %s: MATCH FULL over several columns is not supported", t.Name, name))
			}
			t.ForeignKeys = append(t.ForeignKeys, fk)
		case "c", "n":
			// Checks and not-null constraints are kept as they are.
		default:
			*problems = append(*problems, fmt.Sprintf("%s: constraint %s of kind %q (exclusion or trigger constraint) is not supported", t.Name, name, kind))
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if !hasPK {
		*problems = append(*problems, t.Name+": no primary key: the backfill needs one integer column to range over")
	}
	var orphans []string
	irows, err := db.QueryContext(ctx, `
SELECT i.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
WHERE x.indrelid = $1::regclass AND x.indisunique
  AND NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conindid = x.indexrelid AND c.conrelid = x.indrelid)
ORDER BY 1`, q)
	if err != nil {
		return err
	}
	defer irows.Close()
	for irows.Next() {
		var n string
		if err := irows.Scan(&n); err != nil {
			return err
		}
		orphans = append(orphans, n)
	}
	if err := irows.Err(); err != nil {
		return err
	}
	if len(orphans) > 0 {
		*problems = append(*problems, fmt.Sprintf("%s: unique index %s backs no constraint: it would stay unique across tenants; make it a UNIQUE constraint (ALTER TABLE … ADD CONSTRAINT … UNIQUE USING INDEX …) or drop it", t.Name, strings.Join(orphans, ", ")))
	}
	return db.QueryRowContext(ctx, `SELECT count(*) FROM `+q).Scan(&t.Rows)
}

// inspectIncoming refuses foreign keys into the adopted tables from
// tables outside the selection: they reference the old keys, which the
// plan replaces.
func inspectIncoming(ctx context.Context, db sqlscope.Querier, s Schema, problems *[]string) error {
	names := make([]string, len(s.Tables))
	for i, t := range s.Tables {
		names[i] = t.Name
	}
	rows, err := db.QueryContext(ctx, `
SELECT sn.nspname, src.relname, con.conname, dst.relname
FROM pg_constraint con
JOIN pg_class src ON src.oid = con.conrelid JOIN pg_namespace sn ON sn.oid = src.relnamespace
JOIN pg_class dst ON dst.oid = con.confrelid JOIN pg_namespace dn ON dn.oid = dst.relnamespace
WHERE con.contype = 'f' AND dn.nspname = $1 AND dst.relname = ANY ($2::text[])
  AND NOT (sn.nspname = $1 AND src.relname = ANY ($2::text[]))
ORDER BY 1, 2, 3`, s.Name, textArray(names))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var ns, src, con, dst string
		if err := rows.Scan(&ns, &src, &con, &dst); err != nil {
			return err
		}
		*problems = append(*problems, fmt.Sprintf("%s: foreign key %s of %s.%s, which is not adopted, references it: adopt %s too, or drop the foreign key", dst, con, ns, src, src))
	}
	return rows.Err()
}

// textArray renders names as a PostgreSQL text[] literal parameter
// (drivers do not all bind []string). Names are validated identifiers.
func textArray(names []string) string {
	return "{" + strings.Join(names, ",") + "}"
}

// pgTextArray scans a PostgreSQL text[] of identifiers in its text form.
type pgTextArray []string

func (a *pgTextArray) Scan(src any) error {
	var s string
	switch v := src.(type) {
	case string:
		s = v
	case []byte:
		s = string(v)
	default:
		return fmt.Errorf("adopt: cannot scan %T as text[]", src)
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "{"), "}")
	*a = nil
	if s == "" {
		return nil
	}
	for _, p := range strings.Split(s, ",") {
		// An identifier that needs quoting in the array's text form
		// (a quote, a comma, a space) is refused later by checkName.
		*a = append(*a, p)
	}
	return nil
}

// quote returns schema.name quoted; both are validated identifiers.
func quote(schema, name string) string {
	return `"` + schema + `"."` + name + `"`
}
