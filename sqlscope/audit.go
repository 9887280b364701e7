package sqlscope

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"

	"github.com/tenantwall/tenantwall/sqlscope/internal/privilege"
)

// Check names one kind of isolation problem Audit looks for.
type Check string

// The checks Audit runs. Each finding carries one.
const (
	// CheckRLSDisabled: a tenant table without row level security.
	CheckRLSDisabled Check = "rls_disabled"
	// CheckRLSNotForced: RLS is not forced, so the table owner bypasses it.
	CheckRLSNotForced Check = "rls_not_forced"
	// CheckNoPolicy: the table lacks the policy RLSSQL (or CitusRLSSQL,
	// for the audited setting) generates: a permissive policy for all
	// commands, applying to the role, whose USING and WITH CHECK are
	// exactly the generated expression.
	CheckNoPolicy Check = "no_tenant_policy"
	// CheckNoWithCheck: a permissive policy for writes (ALL, INSERT or
	// UPDATE) without a WITH CHECK clause.
	CheckNoWithCheck Check = "no_with_check"
	// CheckPermissivePolicy: a permissive policy whose USING or WITH CHECK
	// is not exactly the expression RLSSQL or CitusRLSSQL generates, as
	// PostgreSQL deparses it. Permissive policies are ORed, so any such policy decides
	// alone which rows are admitted, however much of the guard it contains.
	// Restrictive policies are ANDed and never reported.
	CheckPermissivePolicy Check = "permissive_policy_not_generated"
	// CheckView: a view that reads a tenant table (directly or through
	// other views) without security_invoker, so it reads with its owner's
	// rights, and row level security is applied as the owner or not at all.
	CheckView Check = "view_not_security_invoker"
	// CheckMaterializedView: a materialized view that reads a tenant table.
	// Its rows were read when it was refreshed, as its owner, and are
	// returned to anyone who may select from it: no policy applies.
	CheckMaterializedView Check = "materialized_view_of_tenant_table"
	// CheckNullableTenant: tenant_id may be NULL.
	CheckNullableTenant Check = "nullable_tenant_id"
	// CheckSuperuser: the application role is a superuser, or a member
	// (directly or through other roles) of one, which it can SET ROLE to
	// (RLS never applies to superusers).
	CheckSuperuser Check = privilege.Superuser
	// CheckBypassRLS: the application role has BYPASSRLS, or is a member
	// (directly or through other roles) of a role that has it.
	CheckBypassRLS Check = privilege.BypassRLS
	// CheckCreateRole: the application role has CREATEROLE, or is a
	// member of a role that has it. In PostgreSQL 15 such a role may
	// grant itself membership in the owner of a tenant table or in a
	// BYPASSRLS role, and so escape row level security.
	CheckCreateRole Check = privilege.CreateRole
	// CheckOwner: the application role owns (or is a member of the owner
	// of) a tenant table, and so may disable RLS or drop policies.
	CheckOwner Check = privilege.Owner
	// CheckServerAccess: the application role can read or write the
	// server's files or run programs on it, and so read every tenant's
	// rows from the table files, where no policy applies: it is a member
	// (directly or through other roles) of a predefined role other than
	// those that stay inside the database (pg_read_server_files,
	// pg_write_server_files, pg_execute_server_program, or one a later
	// PostgreSQL adds), or may execute a superuser-only pg_catalog
	// function (pg_read_file, pg_read_binary_file, lo_import, lo_export,
	// …) through a grant added after installation. Object names the
	// predefined role or the function.
	CheckServerAccess Check = privilege.ServerAccess
	// CheckForeignKey: a foreign key between tenant tables that does not
	// include tenant_id, so a row can reference another tenant's row.
	CheckForeignKey Check = "foreign_key_without_tenant"
	// CheckGuard: the guard function CurrentTenantFunc does not raise when
	// the tenant setting is empty, or does not return the tenant when it
	// is set. Every policy calls it, so all of them are void.
	CheckGuard Check = "guard_function_unsafe"
)

// Finding is one problem Audit found.
type Finding struct {
	// Check is the kind of problem.
	Check Check
	// Table is the schema-qualified tenant table, or empty for role checks.
	Table string
	// Object names the policy, constraint or role concerned.
	Object string
	// Detail says what is wrong and how to fix it.
	Detail string
}

// String is the finding in one line: check, table, object, detail.
func (f Finding) String() string {
	var b strings.Builder
	b.WriteString(string(f.Check))
	if f.Table != "" {
		b.WriteString(" " + f.Table)
	}
	if f.Object != "" {
		b.WriteString(" (" + f.Object + ")")
	}
	if f.Detail != "" {
		b.WriteString(": " + f.Detail)
	}
	return b.String()
}

// Findings is the result of Audit.
type Findings []Finding

// Err returns nil for no findings, else an error wrapping ErrUnsafe that
// lists them: use it to refuse to start.
func (fs Findings) Err() error {
	if len(fs) == 0 {
		return nil
	}
	lines := make([]string, len(fs))
	for i, f := range fs {
		lines[i] = "  - " + f.String()
	}
	return fmt.Errorf("%w: %d problem(s):\n%s", ErrUnsafe, len(fs), strings.Join(lines, "\n"))
}

// Has reports whether fs holds a finding of check c on table (any table
// when table is empty).
func (fs Findings) Has(c Check, table string) bool {
	for _, f := range fs {
		if f.Check == c && (table == "" || f.Table == table) {
			return true
		}
	}
	return false
}

// AuditOptions tunes Audit. The zero value audits the connected role
// (current_user) over every table with a tenant_id column outside the
// system schemas.
type AuditOptions struct {
	// Role is the application role to check; default current_user.
	Role string
	// Schemas limits the audit to these schemas.
	Schemas []string
	// Setting is the run-time parameter the guard function reads; default
	// DefaultSetting. It must match the one given to FunctionSQL.
	Setting string
}

// Audit inspects a live PostgreSQL database and reports every isolation
// problem it finds, one Finding per problem, sorted. A tenant table is any
// ordinary or partitioned table with a tenant_id column. An error means
// the audit itself could not run.
//
// Policies are judged by allow-list against PostgreSQL's own text: Audit
// runs RLSSQL's statements on a temporary table (one per tenant_id type)
// in a transaction it rolls back, with search_path pinned to pg_catalog,
// and compares pg_get_expr of every permissive policy's USING and WITH
// CHECK with the deparsed generated ones. Any difference is a finding,
// however much of the guard the expression contains, because permissive
// policies are ORed; restrictive policies only narrow and are accepted.
// This needs the TEMP privilege on the database (PostgreSQL grants it to
// PUBLIC by default); given a *sql.Tx, Audit works under a savepoint that
// it rolls back, and fails in a read-only transaction.
//
// Besides reading the catalogue, Audit calls the guard function the
// policies rely on, in a read-only transaction that it rolls back: with
// the setting empty it must raise, with the setting set it must return
// it. This probe needs a db that can begin a transaction (*sql.DB or
// *sql.Conn); given a *sql.Tx, Audit skips it rather than change the
// caller's transaction.
//
// Run it at start-up as the application role and refuse to serve on
// findings (Findings.Err), and in tests.
func Audit(ctx context.Context, db Querier, opts *AuditOptions) (Findings, error) {
	if opts == nil {
		opts = &AuditOptions{}
	}
	a := auditor{ctx: ctx, db: db, role: opts.Role, schemas: opts.Schemas, setting: opts.Setting}
	if a.setting == "" {
		a.setting = DefaultSetting
	}
	if err := checkSetting(a.setting); err != nil {
		return nil, err
	}
	if a.role == "" {
		if err := db.QueryRowContext(ctx, `SELECT current_user`).Scan(&a.role); err != nil {
			return nil, fmt.Errorf("sqlscope: audit: %w", err)
		}
	}
	for _, step := range []func() error{a.roleChecks, a.guardChecks, a.tableChecks, a.policyChecks, a.viewChecks, a.foreignKeyChecks} {
		if err := step(); err != nil {
			return nil, fmt.Errorf("sqlscope: audit: %w", err)
		}
	}
	sort.SliceStable(a.found, func(i, j int) bool {
		x, y := a.found[i], a.found[j]
		if x.Table != y.Table {
			return x.Table < y.Table
		}
		if x.Check != y.Check {
			return x.Check < y.Check
		}
		return x.Object < y.Object
	})
	return a.found, nil
}

type auditor struct {
	ctx     context.Context
	db      Querier
	role    string
	schemas []string
	setting string
	found   Findings
}

func (a *auditor) add(c Check, table, object, detail string) {
	a.found = append(a.found, Finding{Check: c, Table: table, Object: object, Detail: detail})
}

// tenantTables is the common table expression naming tenant tables.
const tenantTables = privilege.TenantTables

// roleChecks reports what lets the role escape row level security:
// superuser, BYPASSRLS, CREATEROLE, membership in a role that is,
// ownership of a tenant table (or membership in its owner), and access to
// the server's files or programs. NewRLS and pgxscope refuse a
// role on the same query.
func (a *auditor) roleChecks() error {
	var exists bool
	if err := a.db.QueryRowContext(a.ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, a.role).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		return fmt.Errorf("role %q does not exist", a.role)
	}
	problems, err := privileges(a.ctx, a.db, a.role, a.schemas)
	if err != nil {
		return err
	}
	for _, p := range problems {
		table, object := p.Table, p.Via
		switch {
		case p.Kind == privilege.Owner:
			object = p.Role
		case p.Kind == privilege.ServerAccess && p.Table != "":
			table, object = "", p.Table // a function, not a table
		}
		a.add(Check(p.Kind), table, object, p.Detail())
	}
	return nil
}

// guardProbe is the value the guard is asked to return; no tenant ID can
// look like it.
const guardProbe = "tenantwall audit probe"

// guardChecks calls the guard function with the setting empty and set.
func (a *auditor) guardChecks() error {
	beginner, ok := a.db.(interface {
		BeginTx(context.Context, *sql.TxOptions) (*sql.Tx, error)
	})
	if !ok {
		return nil // a caller's transaction: leave it alone
	}
	var exists bool
	if err := a.db.QueryRowContext(a.ctx, `SELECT to_regprocedure($1) IS NOT NULL`, CurrentTenantFunc+"()").Scan(&exists); err != nil {
		return err
	}
	if !exists {
		return nil // no guard to probe, so no policy can call it
	}
	tx, err := beginner.BeginTx(a.ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	call := func(value string) (string, error) {
		if _, err := tx.ExecContext(a.ctx, `SELECT set_config($1, $2, true)`, a.setting, value); err != nil {
			return "", err
		}
		// A savepoint keeps the transaction usable after the guard raises.
		if _, err := tx.ExecContext(a.ctx, `SAVEPOINT tenantwall_audit`); err != nil {
			return "", err
		}
		var got sql.NullString
		callErr := tx.QueryRowContext(a.ctx, `SELECT `+CurrentTenantFunc+`()`).Scan(&got)
		if _, err := tx.ExecContext(a.ctx, `ROLLBACK TO SAVEPOINT tenantwall_audit`); err != nil {
			return "", err
		}
		return got.String, callErr
	}
	if got, err := call(""); err == nil {
		a.add(CheckGuard, "", CurrentTenantFunc, fmt.Sprintf("with %s empty it returned %q instead of raising; reinstall it with FunctionSQL", a.setting, got))
	} else if a.ctx.Err() != nil {
		return a.ctx.Err()
	}
	got, err := call(guardProbe)
	if a.ctx.Err() != nil {
		return a.ctx.Err()
	}
	if err != nil || got != guardProbe {
		detail := fmt.Sprintf("with %s set it returned %q instead of the setting", a.setting, got)
		if err != nil {
			detail = fmt.Sprintf("with %s set it raised (%v) instead of returning it; if the guard reads another setting, name it in AuditOptions.Setting", a.setting, err)
		}
		a.add(CheckGuard, "", CurrentTenantFunc, detail)
	}
	return nil
}

func (a *auditor) tableChecks() error {
	rows, err := a.db.QueryContext(a.ctx, tenantTables+`
SELECT qname, relrowsecurity, relforcerowsecurity, attnotnull
FROM tt ORDER BY qname`, schemaArray(a.schemas))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var rls, force, notNull bool
		if err := rows.Scan(&name, &rls, &force, &notNull); err != nil {
			return err
		}
		if !rls {
			a.add(CheckRLSDisabled, name, "", "ALTER TABLE … ENABLE ROW LEVEL SECURITY")
		}
		if !force {
			a.add(CheckRLSNotForced, name, "", "ALTER TABLE … FORCE ROW LEVEL SECURITY")
		}
		if !notNull {
			a.add(CheckNullableTenant, name, TenantColumn, "tenant_id must be NOT NULL")
		}
	}
	return rows.Err()
}

func (a *auditor) foreignKeyChecks() error {
	rows, err := a.db.QueryContext(a.ctx, tenantTables+`
SELECT src.qname, con.conname, dst.qname,
       EXISTS (
         SELECT 1 FROM unnest(con.conkey, con.confkey) AS k(src_att, dst_att)
         WHERE k.src_att = src.attnum AND k.dst_att = dst.attnum
       ) AS includes_tenant
FROM pg_constraint con
JOIN tt src ON src.oid = con.conrelid
JOIN tt dst ON dst.oid = con.confrelid
WHERE con.contype = 'f'
ORDER BY src.qname, con.conname`, schemaArray(a.schemas))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var src, name, dst string
		var ok bool
		if err := rows.Scan(&src, &name, &dst, &ok); err != nil {
			return err
		}
		if !ok {
			a.add(CheckForeignKey, src, name, "references "+dst+" without matching tenant_id; use FOREIGN KEY (tenant_id, …) REFERENCES "+dst+" (tenant_id, …)")
		}
	}
	return rows.Err()
}

// schemaArray renders schemas as a PostgreSQL text[] literal parameter
// (drivers do not all bind []string).
func schemaArray(schemas []string) string {
	quoted := make([]string, len(schemas))
	for i, s := range schemas {
		quoted[i] = `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
	}
	return "{" + strings.Join(quoted, ",") + "}"
}
