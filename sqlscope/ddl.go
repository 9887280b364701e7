package sqlscope

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// Names of the objects the DDL helpers create. Audit recognises them.
const (
	// FunctionSchema holds the guard function.
	FunctionSchema = "tenantwall"
	// CurrentTenantFunc returns the setting, and raises an error when it
	// is missing or empty. The policies call it for the first row that
	// reaches them, so a statement without a tenant fails as soon as it
	// reads a row, and one that reads no row returns nothing (see the
	// package doc, Statements without a tenant).
	CurrentTenantFunc = FunctionSchema + ".current_tenant"
	// PolicyName is the tenant isolation policy on each table.
	PolicyName = "tenantwall_isolation"
	// CheckName is the non-empty tenant constraint on each table.
	CheckName = "tenantwall_tenant_not_empty"
	// TenantColumn is the column every tenant table carries.
	TenantColumn = "tenant_id"
)

// Execer is satisfied by *sql.DB, *sql.Tx and *sql.Conn.
type Execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// Querier is satisfied by *sql.DB, *sql.Tx and *sql.Conn.
type Querier interface {
	Execer
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// FunctionSQL returns the statements that install the guard function
// CurrentTenantFunc for a setting (DefaultSetting if empty), callable by
// every role. Run them as the schema owner, before EnableRLS.
func FunctionSQL(setting string) ([]string, error) {
	if setting == "" {
		setting = DefaultSetting
	}
	if err := checkSetting(setting); err != nil {
		return nil, err
	}
	// The setting name is validated above to identifier characters only,
	// so it can be written as a literal.
	return []string{
		`CREATE SCHEMA IF NOT EXISTS ` + FunctionSchema,
		`GRANT USAGE ON SCHEMA ` + FunctionSchema + ` TO PUBLIC`,
		// The raising half is plpgsql, called only when the tenant is
		// missing or empty (coalesce evaluates it lazily); the function
		// the policies call is plain SQL, which PostgreSQL inlines, so
		// the check costs one read of the setting per statement.
		`CREATE OR REPLACE FUNCTION ` + FunctionSchema + `.no_tenant() RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $fn$
BEGIN
	RAISE EXCEPTION 'tenantwall: no tenant in this transaction (setting ` + setting + ` is unset)'
		USING ERRCODE = 'insufficient_privilege';
END
$fn$`,
		`CREATE OR REPLACE FUNCTION ` + CurrentTenantFunc + `() RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $fn$
	SELECT coalesce(nullif(current_setting('` + setting + `', true), ''), ` + FunctionSchema + `.no_tenant())
$fn$`,
		`GRANT EXECUTE ON FUNCTION ` + CurrentTenantFunc + `() TO PUBLIC`,
	}, nil
}

// RLSSQL returns the statements that make an existing table
// tenant-isolated. The table must have a text column tenant_id. They:
//
//   - default tenant_id to the transaction's tenant, so inserts are assigned
//     to the context tenant without naming it;
//   - make tenant_id NOT NULL and CHECK (tenant_id <> ”);
//   - ENABLE and FORCE row level security (FORCE subjects the owner too);
//   - create one policy for all commands, with USING and WITH CHECK both
//     tenant_id = (SELECT tenantwall.current_tenant()), which raises when
//     the tenant is missing or empty. The sub-select makes PostgreSQL
//     evaluate it once per statement instead of once per row: written
//     without it, the inlined guard made a sequential scan 2.8× slower,
//     while point selects cost the same either way (BENCHMARKS.md).
//
// The statements are idempotent. For foreign keys between tenant tables
// and unique constraints, include tenant_id — see the package doc.
func RLSSQL(table string) ([]string, error) {
	return rlsSQL(table, TenantColumn+` = (SELECT `+CurrentTenantFunc+`())`)
}

// CitusRLSSQL is RLSSQL with the policy form Citus accepts on distributed
// tables, which refuses sub-selects in policies: USING and WITH CHECK are
// both tenant_id = current_setting(setting, true) (setting is
// DefaultSetting if empty), with no sub-select and no function of
// tenantwall's. Everything else is as RLSSQL writes it, the default
// included, so FunctionSQL must be installed too (EnableCitusRLS does).
//
// Without a tenant the setting is NULL or empty, which no row's tenant_id
// equals (it is NOT NULL and CHECKed non-empty): statements read no rows
// and write none, instead of raising as RLSSQL's guard does; inserts that
// rely on the default still raise. Audit accepts either form. On plain
// PostgreSQL a point select costs the same in both forms, while a
// sequential scan reads the setting once per row (BENCHMARKS.md).
func CitusRLSSQL(table, setting string) ([]string, error) {
	if setting == "" {
		setting = DefaultSetting
	}
	if err := checkSetting(setting); err != nil {
		return nil, err
	}
	// The setting is validated to identifier characters: a safe literal.
	return rlsSQL(table, TenantColumn+` = current_setting('`+setting+`', true)`)
}

func rlsSQL(table, pred string) ([]string, error) {
	t, err := QuoteQualified(table)
	if err != nil {
		return nil, err
	}
	return []string{
		`ALTER TABLE ` + t + ` ALTER COLUMN ` + TenantColumn + ` SET DEFAULT ` + CurrentTenantFunc + `()`,
		`ALTER TABLE ` + t + ` ALTER COLUMN ` + TenantColumn + ` SET NOT NULL`,
		`ALTER TABLE ` + t + ` DROP CONSTRAINT IF EXISTS ` + CheckName,
		`ALTER TABLE ` + t + ` ADD CONSTRAINT ` + CheckName + ` CHECK (` + TenantColumn + ` <> '')`,
		`ALTER TABLE ` + t + ` ENABLE ROW LEVEL SECURITY`,
		`ALTER TABLE ` + t + ` FORCE ROW LEVEL SECURITY`,
		`DROP POLICY IF EXISTS ` + PolicyName + ` ON ` + t,
		`CREATE POLICY ` + PolicyName + ` ON ` + t + ` AS PERMISSIVE FOR ALL USING (` + pred + `) WITH CHECK (` + pred + `)`,
	}, nil
}

// EnableRLS installs the guard function and isolates each table, in one
// transaction, with FunctionSQL and RLSSQL. Run it as the tables' owner
// (a migration role), never as the application role.
//
// Before changing anything it checks every table: it must exist and be a
// table, with a tenant_id column of type text or varchar (else
// ErrNotTenantTable), and no row may have a NULL or empty tenant_id
// (else ErrRowsWithoutTenant); each error shows the SQL that fixes it.
// Everything runs in one transaction, so an error leaves every table and
// the guard function as they were.
func EnableRLS(ctx context.Context, db *sql.DB, setting string, tables ...string) error {
	return enableRLS(ctx, db, setting, func(t string) ([]string, error) { return RLSSQL(t) }, tables)
}

// EnableCitusRLS is EnableRLS with CitusRLSSQL's policy form, for tables
// that are or will be distributed by Citus. It installs FunctionSQL too,
// for the tenant_id default, and checks the tables as EnableRLS does.
func EnableCitusRLS(ctx context.Context, db *sql.DB, setting string, tables ...string) error {
	return enableRLS(ctx, db, setting, func(t string) ([]string, error) { return CitusRLSSQL(t, setting) }, tables)
}

func enableRLS(ctx context.Context, db *sql.DB, setting string, policy func(string) ([]string, error), tables []string) error {
	stmts, err := FunctionSQL(setting)
	if err != nil {
		return err
	}
	for _, t := range tables {
		s, err := policy(t)
		if err != nil {
			return err
		}
		stmts = append(stmts, s...)
	}
	return runTx(ctx, db, nil, func(tx *sql.Tx) error {
		// Serialise concurrent installers of the shared function.
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext('tenantwall.ddl'))`); err != nil {
			return err
		}
		for _, t := range tables {
			if err := checkTenantTable(ctx, tx, t); err != nil {
				return err
			}
		}
		for _, s := range stmts {
			if _, err := tx.ExecContext(ctx, s); err != nil {
				return fmt.Errorf("sqlscope: %s: %w", firstLine(s), err)
			}
		}
		return nil
	})
}

// firstLine is s up to its first line break.
func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// checkTenantTable refuses a table that RLSSQL cannot isolate, before
// anything is changed, with the SQL that makes it ready. table is
// validated by RLSSQL already.
func checkTenantTable(ctx context.Context, tx *sql.Tx, table string) error {
	quoted, err := QuoteQualified(table)
	if err != nil {
		return err
	}
	var (
		name, kind string
		typ        sql.NullString
		typeOK     bool
		forced     bool
		owner      bool
	)
	// The table is resolved as ALTER TABLE resolves it (search_path).
	err = tx.QueryRowContext(ctx, `
SELECT format('%I.%I', n.nspname, c.relname), c.relkind::text, format_type(a.atttypid, a.atttypmod),
       coalesce(a.atttypid IN ('text'::regtype, 'varchar'::regtype), false),
       c.relforcerowsecurity, pg_has_role(current_user, c.relowner, 'USAGE')
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
WHERE c.oid = to_regclass($1)`, quoted).Scan(&name, &kind, &typ, &typeOK, &forced, &owner)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: table %s does not exist (as the search_path resolves it): create it, or name it with its schema", ErrNotTenantTable, table)
	}
	if err != nil {
		return fmt.Errorf("sqlscope: EnableRLS: look up table %s: %w", table, err)
	}
	switch {
	case kind != "r" && kind != "p":
		return fmt.Errorf("%w: %s is not a table (relkind %q): row level security applies to tables; isolate the tables it reads", ErrNotTenantTable, name, kind)
	case !typ.Valid:
		return fmt.Errorf("%w: table %s has no %s column: add it and give every row its tenant's ID, then run EnableRLS again:\n"+
			"\tALTER TABLE %s ADD COLUMN %s text;\n\tUPDATE %s SET %s = … ; -- each row's tenant ID\n"+
			"(EnableRLS makes it NOT NULL and defaults it to the transaction's tenant)", ErrNotTenantTable, name, TenantColumn, name, TenantColumn, name, TenantColumn)
	case !typeOK:
		return fmt.Errorf("%w: table %s: %s is %s, want text: the policy compares it with the tenant setting, which is text:\n"+
			"\tALTER TABLE %s ALTER COLUMN %s TYPE text;", ErrNotTenantTable, name, TenantColumn, typ.String, name, TenantColumn)
	}
	// A forced table hides its rows from its owner too, and the guard
	// raises without a tenant: count them unforced. The statements below
	// force it again in this transaction, and an error rolls this back.
	if forced && owner {
		if _, err := tx.ExecContext(ctx, `ALTER TABLE `+quoted+` NO FORCE ROW LEVEL SECURITY`); err != nil {
			return fmt.Errorf("sqlscope: EnableRLS: %s: %w", name, err)
		}
	}
	var nulls, empty int64
	err = tx.QueryRowContext(ctx, `SELECT count(*) FILTER (WHERE `+TenantColumn+` IS NULL), count(*) FILTER (WHERE `+TenantColumn+` = '')
FROM `+quoted+` WHERE `+TenantColumn+` IS NULL OR `+TenantColumn+` = ''`).Scan(&nulls, &empty)
	if err != nil {
		return fmt.Errorf("sqlscope: EnableRLS: read %s.%s (run EnableRLS as the table's owner): %w", name, TenantColumn, err)
	}
	if nulls > 0 || empty > 0 {
		return fmt.Errorf("%w: table %s has %d row(s) whose %s is NULL and %d whose %s is empty: give each its tenant's ID, or delete it, then run EnableRLS again:\n"+
			"\tUPDATE %s SET %s = … WHERE %s IS NULL OR %s = ''; -- each row's tenant ID",
			ErrRowsWithoutTenant, name, nulls, TenantColumn, empty, TenantColumn, name, TenantColumn, TenantColumn, TenantColumn)
	}
	return nil
}
