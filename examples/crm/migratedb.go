package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tenantwall/tenantwall/sqlscope/adopt"
)

// migrateDBCommand is "crm migrate-db": it brings an existing
// single-tenant database into tenantwall with package adopt: PostgreSQL
// (a postgres:// -url, connected as its tables' owner or a superuser),
// or a SQLite file (any other -url, a path), whose tables are rebuilt in
// one transaction. Every
// row goes to the CRM tenant -tenant, except in the tables -through lists
// as table.column, whose rows take the tenant of the row that column's
// foreign key references. -dry-run prints every statement and changes
// nothing. Interrupted, the same command resumes.
var migrateDBCommand = command{
	name:  "migrate-db",
	flags: "-url U -tenant S [-schema public] [-tables a,b] [-through t.col,…] [-app-role R] [-batch N] [-dry-run]",
	help:  "bring an existing single-tenant database in (tenant_id, keys per tenant, RLS); PostgreSQL online and resumable, or a SQLite file",
	need:  []string{"url", "tenant"},
	opt:   []string{"schema", "tables", "through", "app-role", "batch"},
	bools: []string{"dry-run"},
	run:   migrateDB,
}

func migrateDB(ctx context.Context, a *app, in input) error {
	pg := isPostgresURL(in.str["url"])
	if !pg && (in.str["schema"] != "" || in.str["app-role"] != "") {
		return fmt.Errorf("migrate-db: -schema and -app-role apply to PostgreSQL; -url %q is a SQLite file", in.str["url"])
	}
	t, err := a.tenants.BySlug(ctx, in.str["tenant"])
	if err != nil {
		return fmt.Errorf("migrate-db: -tenant: %w", err)
	}
	schema := in.str["schema"]
	if schema == "" {
		schema = "public"
	}
	var tables []string
	if in.str["tables"] != "" {
		for _, n := range strings.Split(in.str["tables"], ",") {
			tables = append(tables, strings.TrimSpace(n))
		}
	}
	var opts []adopt.Option
	if b := in.str["batch"]; b != "" {
		n, err := strconv.Atoi(b)
		if err != nil {
			return fmt.Errorf("migrate-db: -batch %q: %w", b, err)
		}
		opts = append(opts, adopt.WithBatchSize(n))
	}
	var db *sql.DB
	var s adopt.Schema
	if pg {
		if db, err = sql.Open("pgx", in.str["url"]); err != nil {
			return err
		}
		defer db.Close()
		s, err = adopt.Inspect(ctx, db, schema, tables...)
	} else {
		if _, err := os.Stat(in.str["url"]); err != nil {
			return fmt.Errorf("migrate-db: -url: %w", err)
		}
		if db, err = sql.Open("sqlite", in.str["url"]+"?_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)"); err != nil {
			return err
		}
		defer db.Close()
		schema = "main"
		s, err = adopt.InspectSQLite(ctx, db, tables...)
	}
	if err != nil {
		return err
	}
	plan, err := adoptionPlan(s, t.ID, in.str["through"], opts)
	if err != nil {
		return err
	}
	if in.bool["dry-run"] {
		_, err := plan.WriteTo(in.out)
		return err
	}
	runOpts := []adopt.RunOption{adopt.WithProgress(progressPrinter(in.out))}
	if r := in.str["app-role"]; r != "" {
		runOpts = append(runOpts, adopt.WithAppRole(r))
	}
	rep, err := adopt.Run(ctx, db, plan, runOpts...)
	if rep != nil {
		fmt.Fprintf(in.out, "%-24s %12s %12s %10s\n", "TABLE", "ROWS BEFORE", "ROWS AFTER", "NO TENANT")
		for _, tr := range rep.Tables {
			fmt.Fprintf(in.out, "%-24s %12d %12d %10d\n", tr.Table, tr.RowsBefore, tr.RowsAfter, tr.NoTenant)
		}
		if rep.AppRole != "" && err == nil {
			fmt.Fprintf(in.out, "row level security verified as role %s\n", rep.AppRole)
		}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(in.out, "schema %s adopted for tenant %s (%s)\n", schema, t.Slug, t.ID)
	return nil
}

// adoptionPlan plans the adoption of the inspected tables s: every row
// to tenantID, except in the tables through lists as table.column, whose
// rows take the tenant of the row that column's foreign key references.
func adoptionPlan(s adopt.Schema, tenantID, through string, opts []adopt.Option) (*adopt.Plan, error) {
	assign := map[string]adopt.Assignment{}
	for _, tb := range s.Tables {
		assign[tb.Name] = adopt.Constant(tenantID)
	}
	if through != "" {
		for _, tc := range strings.Split(through, ",") {
			table, column, ok := strings.Cut(strings.TrimSpace(tc), ".")
			if !ok {
				return nil, fmt.Errorf("migrate-db: -through %q: want table.column", tc)
			}
			parent := ""
			for _, tb := range s.Tables {
				if tb.Name != table {
					continue
				}
				for _, fk := range tb.ForeignKeys {
					if len(fk.Columns) == 1 && fk.Columns[0] == column {
						parent = fk.RefTable
					}
				}
			}
			if parent == "" {
				return nil, fmt.Errorf("migrate-db: -through %s.%s: no table %s with a single-column foreign key on %s", table, column, table, column)
			}
			assign[table] = adopt.Through(column, parent)
		}
	}
	return adopt.New(s, assign, opts...)
}

// progressPrinter prints each step as it starts and, during a backfill,
// rows done, rate and time left, at most once a second.
func progressPrinter(out io.Writer) func(adopt.Progress) {
	var last time.Time
	return func(p adopt.Progress) {
		switch {
		case p.Done:
			if p.Phase == adopt.PhaseBackfill {
				fmt.Fprintf(out, "  %s: %d rows in %v\n", p.Table, p.Rows, p.Elapsed.Round(time.Millisecond))
			}
		case p.Rows == 0:
			table := p.Table
			if table == "" {
				table = "(guard function)"
			}
			fmt.Fprintf(out, "step %d/%d [%s] %s\n", p.Step, p.Steps, p.Phase, table)
		case time.Since(last) >= time.Second:
			last = time.Now()
			fmt.Fprintf(out, "  %s: %d/%d rows, %.0f rows/s, %v left\n", p.Table, p.Rows, p.Total, p.Rate(), p.Left().Round(time.Second))
		}
	}
}
