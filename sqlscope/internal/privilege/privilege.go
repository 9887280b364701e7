// Package privilege finds what lets a PostgreSQL role escape row level
// security: being superuser, BYPASSRLS or CREATEROLE, belonging (directly
// or through other roles, INHERIT or not) to a role that is, or owning a
// tenant table or belonging to its owner. sqlscope.Audit, sqlscope.NewRLS and pgxscope
// all ask through Query, so the three can never disagree.
package privilege

import (
	"fmt"
	"strings"
)

// Kinds of Problem; the values are sqlscope's Check names.
const (
	Superuser = "role_superuser"
	BypassRLS = "role_bypassrls"
	Owner     = "role_owns_table"
	// CreateRole: in PostgreSQL 15 a CREATEROLE role may grant itself
	// membership in any role that is not superuser, the owners of tenant
	// tables and BYPASSRLS roles included.
	CreateRole = "role_createrole"
)

// TenantTables is the common table expression naming tenant tables: every
// ordinary or partitioned table with a tenant_id column outside the system
// schemas (and tenantwall's own), limited to the schemas in $1 (a text[]
// literal; empty means all).
const TenantTables = `
WITH tt AS (
	SELECT c.oid, n.nspname, c.relname, c.relowner, c.relrowsecurity, c.relforcerowsecurity,
	       format('%I.%I', n.nspname, c.relname) AS qname, a.attnum, a.attnotnull
	FROM pg_class c
	JOIN pg_namespace n ON n.oid = c.relnamespace
	JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
	WHERE c.relkind IN ('r', 'p')
	  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast', 'tenantwall')
	  AND n.nspname NOT LIKE 'pg_temp_%'
	  AND (cardinality($1::text[]) = 0 OR n.nspname = ANY($1::text[]))
)`

// Query returns one row (kind, role, via, table) per Problem. $1 is the
// schemas literal of TenantTables; $2 names the role to check, or is empty
// for every role the connection acts as: current_user, session_user and
// the role that logged in (pg_stat_activity keeps it after SET SESSION
// AUTHORIZATION), since the connection can return to any of them.
//
// Superuser, BYPASSRLS and CREATEROLE are not inherited, but a member may SET ROLE to
// any role it belongs to, whatever INHERIT says: pg_has_role's MEMBER
// counts exactly those. A superuser is a member of every role, so its
// memberships and tables add nothing and are not listed.
const Query = `,
subject AS (
	SELECT r.oid, r.rolname, r.rolsuper, r.rolbypassrls, r.rolcreaterole FROM pg_roles r
	WHERE CASE WHEN $2::text = '' THEN
	        r.rolname IN (current_user, session_user)
	        OR r.oid = (SELECT usesysid FROM pg_stat_activity WHERE pid = pg_backend_pid())
	      ELSE r.rolname = $2::text END
)
SELECT 'role_superuser', s.rolname, s.rolname, '' FROM subject s WHERE s.rolsuper
UNION ALL
SELECT 'role_bypassrls', s.rolname, s.rolname, '' FROM subject s WHERE s.rolbypassrls AND NOT s.rolsuper
UNION ALL
SELECT 'role_createrole', s.rolname, s.rolname, '' FROM subject s WHERE s.rolcreaterole AND NOT s.rolsuper
UNION ALL
SELECT CASE WHEN m.rolsuper THEN 'role_superuser' WHEN m.rolbypassrls THEN 'role_bypassrls' ELSE 'role_createrole' END,
       s.rolname, m.rolname, ''
FROM subject s JOIN pg_roles m ON (m.rolsuper OR m.rolbypassrls OR m.rolcreaterole) AND m.oid <> s.oid AND pg_has_role(s.oid, m.oid, 'MEMBER')
WHERE NOT s.rolsuper
UNION ALL
SELECT 'role_owns_table', s.rolname, pg_get_userbyid(tt.relowner), tt.qname
FROM subject s JOIN tt ON pg_has_role(s.oid, tt.relowner, 'MEMBER')
WHERE NOT s.rolsuper
ORDER BY 1, 2, 3, 4`

// SQL is the whole statement: TenantTables followed by Query.
const SQL = TenantTables + Query

// Problem is one way a role escapes row level security.
type Problem struct {
	// Kind is Superuser, BypassRLS, CreateRole or Owner.
	Kind string
	// Role is the application role concerned.
	Role string
	// Via is the role whose rights it has: itself, a privileged role it
	// can SET ROLE to, or the owner of Table.
	Via string
	// Table is the schema-qualified tenant table, for Owner.
	Table string
}

// Detail says what is wrong in one clause, as Audit's findings do.
func (p Problem) Detail() string {
	switch {
	case p.Kind == Superuser && p.Via == p.Role:
		return "row level security never applies to a superuser"
	case p.Kind == BypassRLS && p.Via == p.Role:
		return "the role bypasses every policy"
	case p.Kind == CreateRole && p.Via == p.Role:
		return "the role has CREATEROLE and can grant itself membership in a table owner or a BYPASSRLS role"
	case p.Kind == CreateRole:
		return p.Role + " is a member of CREATEROLE role " + p.Via + " and can SET ROLE to it, then grant itself membership in a table owner or a BYPASSRLS role"
	case p.Kind == Superuser:
		return p.Role + " is a member of superuser " + p.Via + " and can SET ROLE to it"
	case p.Kind == BypassRLS:
		return p.Role + " is a member of BYPASSRLS role " + p.Via + " and can SET ROLE to it"
	case p.Via == p.Role:
		return "the table belongs to " + p.Via + "; connect the application as a role that does not own tenant tables"
	default:
		return "the table belongs to " + p.Via + ", of which " + p.Role + " is a member; connect the application as a role that does not own tenant tables"
	}
}

// fix says how to repair one problem.
func (p Problem) fix() string {
	switch {
	case p.Kind == Superuser && p.Via == p.Role:
		return fmt.Sprintf("role %s is superuser: row level security never applies to it", p.Role)
	case p.Kind == BypassRLS && p.Via == p.Role:
		return fmt.Sprintf("role %s has BYPASSRLS: run ALTER ROLE %s NOBYPASSRLS", p.Role, p.Role)
	case p.Kind == CreateRole && p.Via == p.Role:
		return fmt.Sprintf("role %s has CREATEROLE and can grant itself membership in a table owner or a BYPASSRLS role: run ALTER ROLE %s NOCREATEROLE", p.Role, p.Role)
	case p.Kind == CreateRole:
		return fmt.Sprintf("role %s is a member of CREATEROLE role %s and can SET ROLE to it: revoke that membership (REVOKE %s FROM %s, or from the role through which %s belongs to it)", p.Role, p.Via, p.Via, p.Role, p.Role)
	case p.Kind == Superuser:
		return fmt.Sprintf("role %s is a member of superuser %s and can SET ROLE to it: revoke that membership (REVOKE %s FROM %s, or from the role through which %s belongs to it)", p.Role, p.Via, p.Via, p.Role, p.Role)
	case p.Kind == BypassRLS:
		return fmt.Sprintf("role %s is a member of BYPASSRLS role %s and can SET ROLE to it: revoke that membership (REVOKE %s FROM %s, or from the role through which %s belongs to it)", p.Role, p.Via, p.Via, p.Role, p.Role)
	case p.Via == p.Role:
		return fmt.Sprintf("role %s owns tenant table %s and so may disable its row level security: give it to the migration role (ALTER TABLE %s OWNER TO <owner role>)", p.Role, p.Table, p.Table)
	default:
		return fmt.Sprintf("role %s is a member of %s, owner of tenant table %s, and so may disable its row level security: revoke that membership (REVOKE %s FROM %s)", p.Role, p.Via, p.Table, p.Via, p.Role)
	}
}

// Explain is the error text for problems: each one with its fix, then how
// to create a proper application role and how to opt out. optOut names
// the caller's opt-out, such as "sqlscope.WithPrivilegedRole(reason)".
func Explain(problems []Problem, optOut string) string {
	var b strings.Builder
	for i, p := range problems {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.fix())
	}
	fmt.Fprintf(&b, ". Connect the application as a role of its own (CREATE ROLE app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE NOINHERIT) "+
		"that owns no tenant table and belongs to no superuser, BYPASSRLS, CREATEROLE or table-owning role, "+
		"and grant it SELECT, INSERT, UPDATE, DELETE on the tenant tables; "+
		"see package sqlscopetest's doc for the SQL. A tool that must run as a privileged role passes %s", optOut)
	return b.String()
}

// Rows is what Read needs of a result: database/sql's *sql.Rows and pgx's
// pgx.Rows both have it.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// Read scans the rows of SQL into problems. The caller closes rows.
func Read(rows Rows) ([]Problem, error) {
	var out []Problem
	for rows.Next() {
		var p Problem
		if err := rows.Scan(&p.Kind, &p.Role, &p.Via, &p.Table); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}
