package sqlscope

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// TenantTable is one tenant table as the PostgreSQL catalog describes it.
type TenantTable struct {
	// Name is the table's schema-qualified name, each part quoted where
	// PostgreSQL needs it (format('%I.%I')): ready to be written in SQL.
	Name string
	// Columns are the table's columns, in the table's order.
	Columns []Column
	// References names, in Name's form and sorted, the tenant tables
	// that the table's foreign keys reference.
	References []string
}

// Column is one column of a TenantTable.
type Column struct {
	// Name is the column's name as the catalog spells it (not quoted).
	Name string
	// Type is its type as format_type writes it ("numeric(10,2)").
	Type string
}

// tenantTablesSQL lists the tenant tables that hold rows: tenantTables
// (the definition NewRLS's role check and Audit use) without partitions,
// whose rows their partitioned table reads and writes. A foreign key is
// taken once, on the tables it was declared on (conparentid = 0), not as
// the copies PostgreSQL makes on each partition.
const tenantTablesSQL = tenantTables + `,
mt AS (SELECT tt.oid, tt.qname FROM tt JOIN pg_class c ON c.oid = tt.oid WHERE NOT c.relispartition)
SELECT mt.qname,
	(SELECT json_agg(json_build_array(a.attname, format_type(a.atttypid, a.atttypmod)) ORDER BY a.attnum)
	 FROM pg_attribute a WHERE a.attrelid = mt.oid AND a.attnum > 0 AND NOT a.attisdropped)::text,
	coalesce((SELECT json_agg(DISTINCT p.qname COLLATE "C" ORDER BY p.qname COLLATE "C")
	 FROM pg_constraint con JOIN tt p ON p.oid = con.confrelid
	 WHERE con.contype = 'f' AND con.conrelid = mt.oid AND con.conparentid = 0)::text, '[]')
FROM mt
ORDER BY mt.qname COLLATE "C"`

// TenantTables returns the tenant tables of the PostgreSQL database q is
// connected to, each after the tenant tables it references (parents
// first, so rows go in in this order and out in the reverse), ties in
// the byte order of their names.
//
// A tenant table is what NewRLS's role check and Audit take for one: an
// ordinary or partitioned table with a tenant_id column, in any schema
// but pg_catalog, information_schema, pg_toast and FunctionSchema (named
// exactly, never by a pattern), whichever schemas are on the search
// path, temporary tables excepted (told by their persistence, not their
// schema's name). Partitions are not listed: their partitioned table
// holds their rows. The catalog is readable by every role, so q may be
// the application role's handle or a transaction of it.
//
// Foreign keys that form a cycle, a table referencing itself included,
// admit no order with every parent first: TenantTables returns
// ErrForeignKeyCycle, naming the tables of the cycle.
func TenantTables(ctx context.Context, q Querier) ([]TenantTable, error) {
	rows, err := q.QueryContext(ctx, tenantTablesSQL, schemaArray(nil))
	if err != nil {
		return nil, fmt.Errorf("sqlscope: TenantTables: %w", err)
	}
	defer rows.Close()
	var ts []TenantTable
	for rows.Next() {
		var t TenantTable
		var cols, refs string
		if err := rows.Scan(&t.Name, &cols, &refs); err != nil {
			return nil, fmt.Errorf("sqlscope: TenantTables: %w", err)
		}
		var pairs [][2]string
		if err := json.Unmarshal([]byte(cols), &pairs); err != nil {
			return nil, fmt.Errorf("sqlscope: TenantTables: columns of %s: %w", t.Name, err)
		}
		for _, p := range pairs {
			t.Columns = append(t.Columns, Column{Name: p[0], Type: p[1]})
		}
		if err := json.Unmarshal([]byte(refs), &t.References); err != nil {
			return nil, fmt.Errorf("sqlscope: TenantTables: foreign keys of %s: %w", t.Name, err)
		}
		ts = append(ts, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlscope: TenantTables: %w", err)
	}
	return parentsFirst(ts)
}

// parentsFirst orders ts (sorted by name) so that each table comes after
// the tables it references, by a depth-first walk in name order, and
// refuses a cycle. A reference to a table not in ts (a partition named
// in a foreign key) does not order anything.
func parentsFirst(ts []TenantTable) ([]TenantTable, error) {
	byName := make(map[string]int, len(ts))
	for i, t := range ts {
		byName[t.Name] = i
	}
	const (
		unseen = iota
		visiting
		done
	)
	state := make([]int, len(ts))
	out := make([]TenantTable, 0, len(ts))
	var path []string // the tables being visited, outermost first
	var visit func(i int) error
	visit = func(i int) error {
		switch state[i] {
		case done:
			return nil
		case visiting:
			start := slices.Index(path, ts[i].Name)
			cycle := append(slices.Clone(path[start:]), ts[i].Name)
			return fmt.Errorf("%w: %s: no order puts every parent first", ErrForeignKeyCycle, strings.Join(cycle, " → "))
		}
		state[i] = visiting
		path = append(path, ts[i].Name)
		for _, ref := range ts[i].References {
			if j, ok := byName[ref]; ok {
				if err := visit(j); err != nil {
					return err
				}
			}
		}
		path = path[:len(path)-1]
		state[i] = done
		out = append(out, ts[i])
		return nil
	}
	for i := range ts {
		if err := visit(i); err != nil {
			return nil, err
		}
	}
	return out, nil
}
