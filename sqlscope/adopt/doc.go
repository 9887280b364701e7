// Package adopt brings an existing single-tenant PostgreSQL schema (or
// SQLite file, see below) into tenantwall: it adds tenant_id to each table, gives every row its
// tenant, makes keys unique per tenant and foreign keys unable to cross
// tenants, and ends with row level security enabled as sqlscope.EnableRLS
// would — while the application keeps reading and writing.
//
// Three calls: Inspect reads the schema from the catalog and refuses what
// the planner does not understand; New plans the steps without a
// database (Plan.WriteTo prints them: the dry run); Run executes them,
// resumably, and verifies the result.
//
//	s, err := adopt.Inspect(ctx, owner, "public")
//	plan, err := adopt.New(s, map[string]adopt.Assignment{
//		"accounts": adopt.Constant(acme.ID),                 // every row to one tenant
//		"contacts": adopt.Through("account_id", "accounts"), // the tenant of its account
//	}, adopt.WithBatchSize(5000))
//	report, err := adopt.Run(ctx, owner, plan, adopt.WithAppRole("app"))
//
// # Online
//
// No step rewrites a table or scans one under an exclusive lock, except
// where noted below. Every transaction is short and starts with SET LOCAL
// lock_timeout (WithLockTimeout); one that times out waiting for a lock
// rolls back and is retried (WithRetries), so the application's
// statements never queue for long behind a DDL statement waiting for its
// lock. tenant_id is added nullable and without a default, which changes
// only the catalog. The backfill updates WithBatchSize rows per
// transaction, in primary key ranges; like any UPDATE it writes a new
// version of each row, so a table grows by up to its size until VACUUM
// (autovacuum) reclaims the old versions. Rows the application inserts (or
// updates while tenant_id is still NULL) during the migration get their
// tenant from a temporary BEFORE INSERT OR UPDATE trigger that applies the
// table's own assignment; it is dropped in the transaction that enables
// row level security. A row keeps the tenant it was first given: if the
// application changes what decided it (a join path's foreign key, an
// expression's columns) during the migration, the row is not moved, and
// where that leaves a foreign key crossing tenants, validating the new
// foreign key fails, naming the constraint; the run stops there and
// resumes once the row is fixed. NOT NULL is set after a CHECK (tenant_id IS NOT
// NULL) added NOT VALID and validated apart (a validation does not block
// writes), so SET NOT NULL skips its scan. New unique indexes on
// (tenant_id, …) are built CONCURRENTLY and swapped in with ADD
// CONSTRAINT … USING INDEX; new foreign keys are added NOT VALID and
// validated apart. The last phase is the cut-over: once a table's
// row level security is enabled, the application must set the tenant in
// every transaction (sqlscope.RLS.Tx, package pgxscope). The non-empty
// CHECK that sqlscope.RLSSQL adds is validated in that transaction, a
// scan under its exclusive lock: about 1 ms per 1,000 rows on the CI
// machine (BENCHMARKS.md).
//
// # Resuming
//
// Run records the Schema it plans from and a fingerprint of the plan in
// tenantwall.adopt_runs before its first step, and each step in
// tenantwall.adopt_steps in the same transaction as the step (a backfill
// records its last key with each batch). Interrupted anywhere, call
// Inspect, New and Run again: Inspect returns the recorded Schema, so the
// plan is the same, and Run skips what is done. An index build cut short
// leaves an invalid index, which the rerun drops and builds again. A
// finished run is a no-op.
//
// # SQLite
//
// SQLite cannot alter constraints in place. InspectSQLite reads a SQLite
// database's tables from sqlite_master and the pragmas, New plans a
// rebuild of each (Rebuild), and Run runs them all in one BEGIN IMMEDIATE
// transaction with foreign key enforcement off: create the new table
// (the columns, defaults, CHECKs and AUTOINCREMENT the old one had, plus
// tenant_id TEXT NOT NULL with a non-empty CHECK, UNIQUE (tenant_id, …)
// for the primary key and each unique constraint, and foreign keys
// between adopted tables on (tenant_id, …)), copy the rows with their
// tenant, drop the old table, rename the new one, recreate its indexes;
// then PRAGMA foreign_key_check must find nothing before COMMIT. The
// INTEGER PRIMARY KEY stays the primary key (it is the rowid); UNIQUE
// (tenant_id, id) is what foreign keys reference. SQLite has one writer,
// so the application's writes wait for the transaction (readers in WAL
// mode do not); it is atomic, so an interruption leaves the database as
// it was, and a rerun starts again. There is no row level security in
// SQLite: scope statements with sqlscope.Filter.
//
// # Security
//
// Identifiers are validated with sqlscope.QuoteIdent and refused, never
// escaped. Tenant IDs are bound as parameters, except in the temporary
// trigger (a function body cannot take parameters), where Constant's ID,
// validated by tenant.ValidateID, is a literal of hexadecimal digits and
// hyphens. Expression's SQL is code, placed as written in parentheses;
// it must never come from a user. New accepts it only if sqlscope's
// lexer (the row filter's) reads it, in the schema's dialect, as one
// expression: literals and quoted identifiers closed, parentheses and
// brackets paired, and no comment (not even where PostgreSQL takes one
// inside a token: between the lines of a continued string, around a
// UESCAPE clause), ';', parameter, placeholder or dollar-quoted string;
// so it cannot end, comment out or widen the statement around it. The trigger function's body is dollar-quoted
// with a tag that does not occur in it, so a '$' in the expression's
// literals cannot end it either. Inspect refuses a schema it does not positively
// understand (see ErrUnsupported) rather than adopt part of it: a unique
// index outside a constraint, for example, would stay unique across
// tenants and let one tenant learn that another has a value.
//
// After Run, every foreign key between adopted tables includes tenant_id,
// so no row can reference another tenant's row, even written by a role
// that bypasses row level security; every primary key and unique
// constraint leads with tenant_id, so uniqueness is per tenant. Run's
// verification counts rows without a tenant and, with WithAppRole,
// checks as the application role that reading without a tenant raises,
// that a tenant with no rows reads none, and that sqlscope.Audit finds
// nothing in the schema.
//
// # Errors
//
// Inspect and InspectSQLite return ErrUnsupported; New ErrAssignment or ErrUnsupported; Run
// ErrUnassigned when the assignment left rows without a tenant (it stops
// before NOT NULL; fix the rows and run again), ErrPlanChanged, ErrBusy,
// and ErrVerify with the Report.
//
// # Testing
//
// The tests adopt a 101,000-row schema (accounts; contacts with a unique
// email and a foreign key; deals) on a real PostgreSQL while writers and
// readers run as an application role that is neither owner, superuser nor
// BYPASSRLS, then check that no acknowledged write is lost; and interrupt
// a run mid-backfill, mid-key-swap and after a failed index build, and
// compare the rerun's catalog with an uninterrupted run's. On SQLite
// files they rebuild the same schema, check that what the tables had is
// kept, and that a cancelled or refused run changes nothing. A table of
// hostile expressions (a second statement, comments, parentheses closed
// early, open quotes, escape-string escapes, parameters, dollar quotes)
// must be refused in both dialects, and expressions whose literals hold
// such text must run on both engines and give every row its tenant. The
// SQLite DDL reader and the Expression guard have Fuzz targets; two of
// them ask the servers rather than sqlscope's lexer: every expression the
// guard accepts is run, as the plan places it (and before a sentinel
// literal), on the real PostgreSQL and SQLite, and the test fails if the
// server reads its end anywhere else (a syntax error past it, a changed
// sentinel, key range or trigger body).
package adopt
