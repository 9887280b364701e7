package adopt

import (
	"fmt"

	"github.com/tenantwall/tenantwall/sqlscope"
	"github.com/tenantwall/tenantwall/sqlscope/internal/sqllex"
	"github.com/tenantwall/tenantwall/tenant"
)

// Assignment says which tenant each row of a table belongs to. Make one
// with Constant, Expression or Through; the zero value is invalid.
type Assignment struct {
	kind     assignKind
	tenantID string // constant
	expr     string // expression
	column   string // through: the referencing column
	parent   string // through: the referenced table
}

type assignKind int

const (
	assignNone assignKind = iota
	assignConstant
	assignExpression
	assignThrough
)

// Constant assigns every row of the table to one tenant. The ID must be
// a canonical tenant ID (tenant.ValidateID): the backfill binds it, and
// the temporary insert trigger, which cannot take parameters, carries it
// as a literal that this validation keeps to hexadecimal digits and
// hyphens.
func Constant(tenantID string) Assignment {
	return Assignment{kind: assignConstant, tenantID: tenantID}
}

// Expression assigns each row the tenant ID that a SQL expression over
// the row's columns returns, such as
//
//	CASE region WHEN 'eu' THEN '…' ELSE '…' END
//
// or a sub-select into a mapping table (schema-qualified). It is code,
// not data: it is placed in the statements as written, in parentheses,
// like a sqlscope.Migration, and must never come from a user. New
// accepts it only if it lexes, in the schema's dialect, as one
// expression: every literal and quoted identifier closed, parentheses
// and brackets paired, and no comment (not even between the lines of a
// continued string or around a UESCAPE clause, where PostgreSQL takes
// one), ';', parameter or placeholder, or dollar-quoted string, so that it cannot end, comment out or
// re-parenthesise the statement around it; anything else is refused with
// ErrAssignment. A ';', '--' or '$' inside a string literal is only text
// and is accepted. A row for which it returns NULL or an empty string
// stops the run with ErrUnassigned before tenant_id is made NOT NULL.
func Expression(sql string) Assignment {
	return Assignment{kind: assignExpression, expr: sql}
}

// Through assigns each row the tenant of the row that its foreign key
// column references in parent, which must be adopted too (and is
// backfilled first). The table must have a single-column foreign key on
// column into parent. A row whose column is NULL gets no tenant and stops
// the run with ErrUnassigned.
func Through(column, parent string) Assignment {
	return Assignment{kind: assignThrough, column: column, parent: parent}
}

// String describes the assignment, for the dry run.
func (a Assignment) String() string {
	switch a.kind {
	case assignConstant:
		return "every row to tenant " + a.tenantID
	case assignExpression:
		return "each row to the tenant of expression " + a.expr
	case assignThrough:
		return "each row to the tenant of its " + a.parent + " row, through " + a.column
	}
	return "(no assignment)"
}

// check validates a against table t of s.
func (a Assignment) check(s Schema, t Table) error {
	switch a.kind {
	case assignConstant:
		if err := tenant.ValidateID(a.tenantID); err != nil {
			return fmt.Errorf("%w: table %s: %w", ErrAssignment, t.Name, err)
		}
	case assignExpression:
		d := sqllex.Postgres
		if s.Dialect == sqlscope.SQLite {
			d = sqllex.SQLite
		}
		if err := sqllex.Expression(d, a.expr); err != nil {
			return fmt.Errorf("%w: table %s: expression %q is not one expression: %v", ErrAssignment, t.Name, a.expr, err)
		}
	case assignThrough:
		if _, err := a.foreignKey(s, t); err != nil {
			return err
		}
	default:
		return fmt.Errorf("%w: table %s: zero Assignment (use Constant, Expression or Through)", ErrAssignment, t.Name)
	}
	return nil
}

// foreignKey finds the foreign key a Through assignment follows.
func (a Assignment) foreignKey(s Schema, t Table) (ForeignKey, error) {
	if _, ok := s.table(a.parent); !ok {
		return ForeignKey{}, fmt.Errorf("%w: table %s: through %s.%s: %s is not adopted", ErrAssignment, t.Name, t.Name, a.column, a.parent)
	}
	for _, fk := range t.ForeignKeys {
		if fk.RefTable == a.parent && len(fk.Columns) == 1 && fk.Columns[0] == a.column {
			return fk, nil
		}
	}
	return ForeignKey{}, fmt.Errorf("%w: table %s: no single-column foreign key on %s into %s", ErrAssignment, t.Name, a.column, a.parent)
}
