// Package privilege finds what lets a PostgreSQL role escape row level
// security: being superuser, BYPASSRLS or CREATEROLE, belonging (directly
// or through other roles, INHERIT or not) to a role that is, owning a
// tenant table or belonging to its owner, or reaching the server's files
// or programs (where every tenant's rows lie in the table files, past
// every policy). sqlscope.Audit, sqlscope.NewRLS and pgxscope
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
	// ServerAccess: the role can read or write the server's files or run
	// programs on it, through a predefined role or a superuser-only
	// function granted to it; the table files hold every tenant's rows.
	ServerAccess = "role_server_access"
)

// harmlessPredefined are the predefined roles whose rights stay inside
// the database's permission system: reading statistics and settings,
// signalling backends, CHECKPOINT, maintenance, and pg_read_all_data and
// pg_write_all_data, which are still bound by row level security. Any
// other predefined role (pg_read_server_files, pg_write_server_files,
// pg_execute_server_program, and any a later PostgreSQL adds) is a
// problem until it is reviewed and listed here.
const harmlessPredefined = `'pg_database_owner', 'pg_monitor', 'pg_read_all_settings', 'pg_read_all_stats',
	'pg_stat_scan_tables', 'pg_signal_backend', 'pg_checkpoint', 'pg_read_all_data', 'pg_write_all_data',
	'pg_use_reserved_connections', 'pg_maintain'`

// TenantTables is the common table expression naming tenant tables: every
// ordinary or partitioned table with a tenant_id column outside the system
// schemas (and tenantwall's own), temporary tables excepted, limited to the
// schemas in $1 (a text[] literal; empty means all).
//
// The system schemas are named exactly, never by a pattern: LIKE
// 'pg_temp_%' (where _ matches any character) also took ordinary schemas
// such as pgxtempx for temporary ones. Temporary tables are told by their
// persistence, which is exactly what puts a table in a session's
// pg_temp_N schema (and its TOAST table in pg_toast_temp_N).
const TenantTables = `
WITH RECURSIVE tt AS (
	SELECT c.oid, n.nspname, c.relname, c.relowner, c.relrowsecurity, c.relforcerowsecurity,
	       format('%I.%I', n.nspname, c.relname) AS qname, a.attnum, a.attnotnull
	FROM pg_class c
	JOIN pg_namespace n ON n.oid = c.relnamespace
	JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
	WHERE c.relkind IN ('r', 'p')
	  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast', 'tenantwall')
	  AND c.relpersistence <> 't'
	  AND (cardinality($1::text[]) = 0 OR n.nspname = ANY($1::text[]))
)`

// Query returns one row (kind, role, via, table) per Problem. $1 is the
// schemas literal of TenantTables; $2 names the role to check, or is empty
// for every role the connection acts as: current_user, session_user and
// the role that logged in (pg_stat_activity keeps it after SET SESSION
// AUTHORIZATION), since the connection can return to any of them.
//
// A pg_catalog function that PostgreSQL does not let PUBLIC execute is
// superuser-only by design (server files, large-object import and export,
// configuration); the role may execute one only through the grants
// PostgreSQL installed (pg_init_privs, such as pg_monitor's), and any grant
// added since is a problem: pg_read_binary_file alone reads a table's file.
// Predefined roles (the reserved pg_ prefix) are allowed only from the
// reviewed list harmlessPredefined.
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
UNION ALL
SELECT 'role_server_access', s.rolname, m.rolname, ''
FROM subject s JOIN pg_roles m ON left(m.rolname, 3) = 'pg_' AND m.rolname NOT IN (` + harmlessPredefined + `)
  AND pg_has_role(s.oid, m.oid, 'MEMBER')
WHERE NOT s.rolsuper
UNION ALL
SELECT DISTINCT 'role_server_access', s.rolname, pg_get_userbyid(g.grantee), p.oid::regprocedure::text
FROM subject s
CROSS JOIN pg_proc p
CROSS JOIN LATERAL aclexplode(p.proacl) g
WHERE NOT s.rolsuper
  AND p.pronamespace = 'pg_catalog'::regnamespace
  AND NOT EXISTS (SELECT FROM aclexplode(p.proacl) pub WHERE pub.grantee = 0 AND pub.privilege_type = 'EXECUTE')
  AND g.privilege_type = 'EXECUTE' AND g.grantee <> 0 AND pg_has_role(s.oid, g.grantee, 'MEMBER')
  AND NOT EXISTS (SELECT FROM pg_init_privs ip CROSS JOIN LATERAL aclexplode(ip.initprivs) i
                  WHERE ip.objoid = p.oid AND ip.classoid = 'pg_proc'::regclass
                    AND i.grantee = g.grantee AND i.privilege_type = 'EXECUTE')
ORDER BY 1, 2, 3, 4`

// SQL is the whole statement: TenantTables followed by Query.
const SQL = TenantTables + Query

// Problem is one way a role escapes row level security.
type Problem struct {
	// Kind is Superuser, BypassRLS, CreateRole, Owner or ServerAccess.
	Kind string
	// Role is the application role concerned.
	Role string
	// Via is the role whose rights it has: itself, a privileged role it
	// can SET ROLE to, or the owner of Table.
	Via string
	// Table is the schema-qualified tenant table, for Owner; for
	// ServerAccess through a function, the function's signature (Via is
	// then the role it was granted to), else empty.
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
	case p.Kind == ServerAccess && p.Table != "":
		return p.Role + " may execute the superuser-only function " + p.Table + " (granted to " + p.Via + "), which reaches the server's files, where every tenant's rows lie past every policy"
	case p.Kind == ServerAccess:
		return p.Role + " is a member of " + p.Via + ", which reaches the server's files or programs, where every tenant's rows lie past every policy"
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
	case p.Kind == ServerAccess && p.Table != "":
		return fmt.Sprintf("role %s may execute the superuser-only function %s, granted to %s, which reaches the server's files (a table's file holds every tenant's rows): revoke it (REVOKE EXECUTE ON FUNCTION %s FROM %s)", p.Role, p.Table, p.Via, p.Table, p.Via)
	case p.Kind == ServerAccess:
		return fmt.Sprintf("role %s is a member of %s, which reaches the server's files or programs (a table's file holds every tenant's rows): revoke that membership (REVOKE %s FROM %s, or from the role through which %s belongs to it)", p.Role, p.Via, p.Via, p.Role, p.Role)
	case p.Via == p.Role:
		return fmt.Sprintf("role %s owns tenant table %s and so may disable its row level security: if %s is the role that runs migrations, keep it for them and connect the application as another role; otherwise give the table to the migration role (ALTER TABLE %s OWNER TO <migration role>)", p.Role, p.Table, p.Role, p.Table)
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
		"that owns no tenant table, belongs to no superuser, BYPASSRLS, CREATEROLE or table-owning role nor to pg_read_server_files, pg_write_server_files or pg_execute_server_program, "+
		"and is granted no superuser-only function (pg_read_file, pg_read_binary_file, lo_import, lo_export, …), "+
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
