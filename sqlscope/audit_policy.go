package sqlscope

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// scratchTable is the temporary table on which Audit has PostgreSQL
// deparse the policy RLSSQL generates; one per tenant_id column type.
const scratchTable = "pg_temp.tenantwall_audit_expected"

// expected is a policy RLSSQL or CitusRLSSQL generates, as PostgreSQL
// deparses it for a tenant_id column of one type.
type expected struct{ using, check string }

// scratch runs fn in a transaction that is always rolled back: its own
// when db can begin one, else a savepoint in the caller's transaction.
// The search_path is pinned to pg_catalog (and pg_temp) inside it, so
// that every deparsed name outside pg_catalog comes out schema-qualified
// and two expressions deparse alike only when they call the same objects.
func (a *auditor) scratch(fn func(q Querier) error) error {
	q := a.db
	if b, ok := a.db.(interface {
		BeginTx(context.Context, *sql.TxOptions) (*sql.Tx, error)
	}); ok {
		tx, err := b.BeginTx(a.ctx, nil)
		if err != nil {
			return err
		}
		defer func() { _ = tx.Rollback() }()
		q = tx
	} else {
		// A caller's transaction: everything below is undone by the
		// rollback to the savepoint, search_path included.
		if _, err := q.ExecContext(a.ctx, `SAVEPOINT tenantwall_audit_scratch`); err != nil {
			return fmt.Errorf("a Querier that cannot begin a transaction must be one (*sql.Tx): %w", err)
		}
		defer func() {
			_, _ = q.ExecContext(a.ctx, `ROLLBACK TO SAVEPOINT tenantwall_audit_scratch`)
			_, _ = q.ExecContext(a.ctx, `RELEASE SAVEPOINT tenantwall_audit_scratch`)
		}()
	}
	if _, err := q.ExecContext(a.ctx, `SELECT set_config('search_path', 'pg_catalog, pg_temp', true)`); err != nil {
		return err
	}
	return fn(q)
}

// expectedPolicies has PostgreSQL deparse the policies RLSSQL and
// CitusRLSSQL (for the audited setting) generate, by running their
// statements on temporary tables with a tenant_id of each given type and
// reading the policies back: the comparison is with
// PostgreSQL's own text, never a hand-normalised string. Without the
// guard function no policy can be correct, and the map is empty.
func (a *auditor) expectedPolicies(q Querier, types []string) (map[string][]expected, error) {
	out := map[string][]expected{}
	var exists bool
	if err := q.QueryRowContext(a.ctx, `SELECT to_regprocedure($1) IS NOT NULL`, CurrentTenantFunc+"()").Scan(&exists); err != nil {
		return nil, err
	}
	if !exists {
		return out, nil
	}
	for i, typ := range types {
		if err := a.deparse(q, fmt.Sprintf("%s_%d", scratchTable, i), typ, RLSSQL, out); err != nil {
			return nil, err
		}
		citus := func(table string) ([]string, error) { return CitusRLSSQL(table, a.setting) }
		if err := a.deparse(q, fmt.Sprintf("%s_citus_%d", scratchTable, i), typ, citus, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// deparse runs one generator's statements on a temporary table with a
// tenant_id of type typ and adds the policy PostgreSQL reads back to out.
func (a *auditor) deparse(q Querier, table, typ string, generate func(string) ([]string, error), out map[string][]expected) error {
	stmts, err := generate(table)
	if err != nil {
		return err
	}
	// typ is format_type's output for a catalogued type: PostgreSQL's
	// own quoting of an existing name.
	stmts = append([]string{`CREATE TEMP TABLE ` + table + ` (` + TenantColumn + ` ` + typ + `) ON COMMIT DROP`}, stmts...)
	for _, s := range stmts {
		if _, err := q.ExecContext(a.ctx, s); err != nil {
			return fmt.Errorf("deparse the generated policy (needs TEMP on the database): %s: %w", firstLine(s), err)
		}
	}
	var e expected
	err = q.QueryRowContext(a.ctx, `
SELECT pg_get_expr(polqual, polrelid), pg_get_expr(polwithcheck, polrelid)
FROM pg_policy WHERE polrelid = $1::regclass AND polname = $2`, table, PolicyName).Scan(&e.using, &e.check)
	if err != nil {
		return err
	}
	out[typ] = append(out[typ], e)
	return nil
}

// policy is one row of pg_policy on a tenant table, deparsed.
type policy struct {
	table, typ, name, cmd, roles string
	using, check                 sql.NullString
	permissive, applies          bool
}

// policyCmds names pg_policy.polcmd values as CREATE POLICY spells them.
var policyCmds = map[string]string{"*": "ALL", "r": "SELECT", "a": "INSERT", "w": "UPDATE", "d": "DELETE"}

// policyChecks compares every permissive policy on a tenant table with
// the one RLSSQL generates, as PostgreSQL deparses both. It decides by
// allow-list: a permissive policy is accepted only when each expression
// it has is exactly the generated one; anything else is reported, since
// permissive policies are ORed and any one of them admits rows alone.
// Restrictive policies are ANDed with the rest and can only narrow what
// is admitted, so they are accepted as they are.
func (a *auditor) policyChecks() error {
	return a.scratch(func(q Querier) error {
		var types []string
		rows, err := q.QueryContext(a.ctx, tenantTables+`
SELECT DISTINCT format_type(a.atttypid, a.atttypmod) FROM tt JOIN pg_attribute a ON a.attrelid = tt.oid AND a.attnum = tt.attnum
ORDER BY 1`, schemaArray(a.schemas))
		if err != nil {
			return err
		}
		for rows.Next() {
			var t string
			if err := rows.Scan(&t); err != nil {
				rows.Close()
				return err
			}
			types = append(types, t)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		want, err := a.expectedPolicies(q, types)
		if err != nil {
			return err
		}
		policies, err := a.readPolicies(q)
		if err != nil {
			return err
		}
		a.judgePolicies(policies, want)
		return nil
	})
}

func (a *auditor) readPolicies(q Querier) ([]policy, error) {
	rows, err := q.QueryContext(a.ctx, tenantTables+`
SELECT tt.qname, format_type(att.atttypid, att.atttypmod), p.polname, p.polpermissive, p.polcmd::text,
       pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid),
       0 = ANY (p.polroles) OR EXISTS (SELECT 1 FROM unnest(p.polroles) r WHERE pg_has_role($2, r, 'USAGE')),
       CASE WHEN 0 = ANY (p.polroles) THEN 'PUBLIC'
            ELSE (SELECT string_agg(quote_ident(rolname), ', ' ORDER BY rolname) FROM pg_roles WHERE oid = ANY (p.polroles)) END
FROM tt
JOIN pg_attribute att ON att.attrelid = tt.oid AND att.attnum = tt.attnum
LEFT JOIN pg_policy p ON p.polrelid = tt.oid
ORDER BY tt.qname, p.polname`, schemaArray(a.schemas), a.role)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []policy
	for rows.Next() {
		var p policy
		var name, cmd, roles sql.NullString
		var permissive, applies sql.NullBool
		if err := rows.Scan(&p.table, &p.typ, &name, &permissive, &cmd, &p.using, &p.check, &applies, &roles); err != nil {
			return nil, err
		}
		p.name, p.cmd, p.roles = name.String, cmd.String, roles.String
		p.permissive, p.applies = permissive.Bool, applies.Bool
		out = append(out, p) // a table without policies comes as one row with no name
	}
	return out, rows.Err()
}

func (a *auditor) judgePolicies(policies []policy, want map[string][]expected) {
	var order []string
	covered := map[string]bool{} // the table has the generated policy (perhaps without WITH CHECK, reported apart)
	for _, p := range policies {
		if _, ok := covered[p.table]; !ok {
			covered[p.table] = false
			order = append(order, p.table)
		}
		if p.name == "" || !p.permissive {
			continue
		}
		reads := p.cmd != "a"                                  // USING applies to ALL, SELECT, UPDATE, DELETE
		writes := p.cmd == "*" || p.cmd == "a" || p.cmd == "w" // WITH CHECK applies to ALL, INSERT, UPDATE
		// Without the guard function nothing can be the generated policy.
		forms := want[p.typ]
		var w expected
		matched := false
		for _, f := range forms {
			usingOK := p.using.Valid == reads && (!reads || p.using.String == f.using)
			checkOK := !p.check.Valid || (writes && p.check.String == f.check)
			if usingOK && checkOK {
				w, matched = f, true
				break
			}
		}
		if !matched {
			alts := make([]string, len(forms))
			for i, f := range forms {
				alts[i] = fmt.Sprintf("USING (%s) WITH CHECK (%s)", f.using, f.check)
			}
			if len(forms) == 0 {
				alts = []string{CurrentTenantFunc + "() is missing"}
			}
			a.add(CheckPermissivePolicy, p.table, p.name, fmt.Sprintf(
				"FOR %s USING (%s) WITH CHECK (%s) is not a generated policy (%s); permissive policies are ORed, so this one admits rows alone",
				policyCmds[p.cmd], orNone(p.using), orNone(p.check), strings.Join(alts, " or ")))
			continue
		}
		if writes && !p.check.Valid {
			a.add(CheckNoWithCheck, p.table, p.name, fmt.Sprintf("FOR %s without WITH CHECK (%s): written rows must be restricted to the tenant explicitly", policyCmds[p.cmd], w.check))
		}
		if p.cmd == "*" && p.applies {
			covered[p.table] = true
		}
	}
	for _, t := range order {
		if !covered[t] {
			a.add(CheckNoPolicy, t, PolicyName, "no permissive policy FOR ALL applying to "+a.role+" with USING and WITH CHECK exactly as RLSSQL or CitusRLSSQL generates them")
		}
	}
}

func orNone(s sql.NullString) string {
	if !s.Valid {
		return "none"
	}
	return s.String
}

// viewChecks reports every view and materialized view that reads a tenant
// table, directly or through other views (found through the dependencies
// of their rewrite rules), and does not apply row level security as the
// querying role. security_invoker is read with PostgreSQL's own boolean
// parser, so every spelling of true counts and nothing else does.
func (a *auditor) viewChecks() error {
	rows, err := a.db.QueryContext(a.ctx, tenantTables+`,
reads(view, base) AS (
	SELECT r.ev_class, d.refobjid
	FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid
	WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass
	  AND d.refobjid IN (SELECT oid FROM tt) AND r.ev_class <> d.refobjid
	UNION
	SELECT r.ev_class, reads.base
	FROM reads
	JOIN pg_depend d ON d.refclassid = 'pg_class'::regclass AND d.refobjid = reads.view AND d.classid = 'pg_rewrite'::regclass
	JOIN pg_rewrite r ON r.oid = d.objid
	WHERE r.ev_class <> d.refobjid
)
SELECT format('%I.%I', n.nspname, c.relname), c.relkind::text, min(tt.qname),
       coalesce((SELECT bool_or(o.option_value::boolean) FROM pg_options_to_table(c.reloptions) o
                 WHERE o.option_name = 'security_invoker'), false)
FROM reads
JOIN pg_class c ON c.oid = reads.view
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN tt ON tt.oid = reads.base
WHERE c.relkind IN ('v', 'm')
GROUP BY 1, 2, c.reloptions
ORDER BY 1`, schemaArray(a.schemas))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var view, kind, table string
		var invoker bool
		if err := rows.Scan(&view, &kind, &table, &invoker); err != nil {
			return err
		}
		switch {
		case kind == "m":
			a.add(CheckMaterializedView, table, view, "a materialized view holds rows read by its owner at refresh and no policy applies to them; drop it or keep it out of the application role's reach")
		case !invoker:
			a.add(CheckView, table, view, "ALTER VIEW … SET (security_invoker = true), so the policies apply to the querying role")
		}
	}
	return rows.Err()
}
