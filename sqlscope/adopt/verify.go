package adopt

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/tenantwall/tenantwall/sqlscope"
	"github.com/tenantwall/tenantwall/tenant"
)

// Report is what the verification at the end of Run found.
type Report struct {
	// Tables has one entry per adopted table, in the schema's order.
	Tables []TableReport
	// Findings are sqlscope.Audit's findings on the schema, as the
	// application role (WithAppRole); empty when no role was given.
	Findings sqlscope.Findings
	// AppRole is the role the isolation was checked as, if any.
	AppRole string
}

// TableReport is the verification of one table.
type TableReport struct {
	// Table is the table's name.
	Table string
	// RowsBefore is the row count when the table was inspected, RowsAfter
	// the count at the end: they differ by what the application inserted
	// and deleted meanwhile.
	RowsBefore, RowsAfter int64
	// NoTenant counts rows whose tenant_id is NULL or empty (must be 0).
	NoTenant int64
	// Problems says what failed, if anything: rows without a tenant, or
	// the application role reading rows without a tenant, or another
	// tenant's rows.
	Problems []string
}

// Err returns nil when every check passed, else an error wrapping
// ErrVerify that lists what failed.
func (r *Report) Err() error {
	var lines []string
	for _, t := range r.Tables {
		for _, p := range t.Problems {
			lines = append(lines, t.Table+": "+p)
		}
	}
	for _, f := range r.Findings {
		lines = append(lines, f.String())
	}
	if len(lines) == 0 {
		return nil
	}
	return fmt.Errorf("%w:\n  - %s", ErrVerify, strings.Join(lines, "\n  - "))
}

// WithAppRole makes Run also verify isolation as the application role
// (default: not checked): sqlscope.Audit with that role over the schema,
// and, for each table, as that role (SET LOCAL ROLE, so the migration
// role must be a member of it or a superuser) that reading without a
// tenant raises and reading as a tenant that owns no rows finds none.
func WithAppRole(role string) RunOption {
	return func(o *runOptions) error {
		if _, err := sqlscope.QuoteIdent(role); err != nil {
			return err
		}
		o.appRole = role
		return nil
	}
}

// verify counts every table's rows and rows without a tenant with row
// level security off (the migration role must be a superuser or
// BYPASSRLS to count them; a table owner is subject to the forced
// policy), and, given the application role, checks isolation as it.
func verify(ctx context.Context, conn *sql.Conn, p *Plan, appRole string) (*Report, error) {
	rep := &Report{AppRole: appRole}
	for _, t := range p.schema.Tables {
		tr := TableReport{Table: t.Name, RowsBefore: t.Rows}
		q := quote(p.schema.Name, t.Name)
		err := withTx(ctx, conn, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `SET LOCAL row_security = off`); err != nil {
				return err
			}
			return tx.QueryRowContext(ctx, `SELECT count(*), count(*) FILTER (WHERE `+sqlscope.TenantColumn+` IS NULL OR `+sqlscope.TenantColumn+` = '') FROM `+q).
				Scan(&tr.RowsAfter, &tr.NoTenant)
		})
		if err != nil {
			return nil, fmt.Errorf("adopt: verify %s (run as a superuser or a BYPASSRLS role, which row level security does not hide rows from): %w", t.Name, err)
		}
		if tr.NoTenant > 0 {
			tr.Problems = append(tr.Problems, fmt.Sprintf("%d row(s) without a tenant", tr.NoTenant))
		}
		if appRole != "" {
			probs, err := probe(ctx, conn, p, q, appRole, tr.RowsAfter)
			if err != nil {
				return nil, err
			}
			tr.Problems = append(tr.Problems, probs...)
		}
		rep.Tables = append(rep.Tables, tr)
	}
	if appRole != "" {
		fs, err := sqlscope.Audit(ctx, conn, &sqlscope.AuditOptions{Role: appRole, Schemas: []string{p.schema.Name}, Setting: p.setting})
		if err != nil {
			return nil, err
		}
		rep.Findings = fs
	}
	return rep, rep.Err()
}

// probe reads table q as the application role: without a tenant it must
// raise (if the table has rows), and as a tenant with no rows it must
// find none.
func probe(ctx context.Context, conn *sql.Conn, p *Plan, q, role string, rows int64) ([]string, error) {
	var problems []string
	var n int64
	err := withTx(ctx, conn, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `SET LOCAL ROLE "`+role+`"`); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT count(*) FROM `+q).Scan(&n)
	})
	var se interface{ SQLState() string }
	switch {
	case err == nil && (rows > 0 || n > 0):
		problems = append(problems, fmt.Sprintf("role %s read %d row(s) without a tenant", role, n))
	case err != nil && !(errors.As(err, &se) && se.SQLState() == "42501"):
		return nil, fmt.Errorf("adopt: verify %s as role %s: %w", q, role, err)
	}
	err = withTx(ctx, conn, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `SET LOCAL ROLE "`+role+`"`); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `SELECT set_config($1, $2, true)`, p.setting, tenant.NewID()); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT count(*) FROM `+q).Scan(&n)
	})
	if err != nil {
		return nil, fmt.Errorf("adopt: verify %s as role %s with a tenant: %w", q, role, err)
	}
	if n > 0 {
		problems = append(problems, fmt.Sprintf("role %s, as a tenant that owns no rows, read %d row(s)", role, n))
	}
	return problems, nil
}

func withTx(ctx context.Context, conn *sql.Conn, fn func(*sql.Tx) error) error {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	return fn(tx)
}
