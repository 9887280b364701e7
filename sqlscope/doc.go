// Package sqlscope isolates tenants at the database level, so that a
// forgotten WHERE clause cannot leak another tenant's rows.
//
// Three modes, from strongest to most portable:
//
//   - Row level security (PostgreSQL, recommended). EnableRLS gives each
//     tenant table a tenant_id defaulted from the transaction's tenant, a
//     non-empty CHECK, ENABLE and FORCE ROW LEVEL SECURITY and one policy
//     whose USING and WITH CHECK compare tenant_id with
//     tenantwall.current_tenant() — a function that raises when the tenant
//     is missing or empty. RLS.Tx runs a transaction with the tenant set by
//     set_config(setting, id, true): transaction-local, a bound parameter.
//     Package pgxscope does the same natively on pgx, in the round trip of
//     BEGIN. NewRLS refuses an application role that row level security
//     does not bind (see Security). Audit inspects a live database for
//     every way this can be misconfigured. TenantTables lists the tenant
//     tables as both see them (partitions and temporary tables
//     excepted), with their columns, parents first by foreign key:
//     placement.Router.Move moves a tenant's rows by it.
//   - Schema per tenant (PostgreSQL). Schemas creates, migrates and drops
//     one schema per tenant, named from the tenant's immutable ID (never
//     its renamable slug); Schemas.Tx sets search_path to the context
//     tenant's schema alone. AdoptSlugSchema moves schemas that earlier
//     versions named from slugs.
//   - Row filter (SQLite, MySQL/MariaDB, PostgreSQL without RLS). Filter
//     binds the context tenant into every statement at a {tenant} marker and
//     refuses statements without one; Filter.Insert sets tenant_id itself.
//
// Package sqlstore keeps the tenants themselves (a tenant.Store on SQL).
//
// # One unit of work per request
//
// Units gives each HTTP request one transaction scoped to its tenant
// (Units.Middleware, after the middleware that resolves the tenant; Run
// outside HTTP). The *Unit found with UnitFromContext is a Querier:
// Filter.On(unit) scopes its statements on SQLite or MySQL, and WithRLS
// sets the tenant for row level security. The transaction begins with the
// unit's first statement, so the authentication lookup and the handler's
// queries share one BEGIN and one COMMIT, and a request that sends no
// statement opens none. Statements are prepared once and reused by later
// units (a SQLite statement is otherwise compiled anew every time).
// WithConnBeginner(pgxscope.Stdlib{}) sends BEGIN and set_config in one
// round trip on pgx's database/sql driver.
//
// The commit rule: the unit ends when the response status is decided. A
// status below 400 is sent only after the COMMIT succeeded — a write that
// fails to commit is answered 500 (503 when IsUnavailable), never 2xx, by
// WithEndErrorHandler — and OnCommit's functions (cache invalidation,
// events) run only then. A status of 400 or more, a panic or the end of
// the request's context rolls back. A statement sent after that, or under
// a context of another tenant (ErrUnitTenant, audited), or without a
// tenant (tenant.ErrNoTenant) is refused before anything is sent.
// Requests with a safe method get a read-only transaction.
//
// # Security
//
// Every helper takes the tenant from the context and returns
// tenant.ErrNoTenant before sending any SQL when there is none. The only
// way around it is RLS.PlatformTx, which needs tenant.WithPlatformScope's
// reason, a separate privileged handle, and reports to the auditor.
//
// Run the application as a role that is neither superuser, nor BYPASSRLS,
// nor CREATEROLE (in PostgreSQL 15 it can grant itself any other role),
// nor owner of a tenant table, nor a member — directly or through other
// roles, INHERIT or not — of such a role (it could SET ROLE to it), and
// that cannot reach the server's files or programs: no membership in a
// predefined role other than those that stay inside the database
// (pg_read_server_files, pg_write_server_files and
// pg_execute_server_program are refused, and so is any predefined role
// not reviewed), and no EXECUTE on a superuser-only function
// (pg_read_file, pg_read_binary_file, lo_import, lo_export, …) beyond the
// grants PostgreSQL installs: a table's file holds every tenant's rows,
// and no policy applies to it. Row level security does not bind such a
// role, and every tenant would see every tenant's rows. This is not left to the reader: NewRLS checks
// the role its handle connects as (current_user, session_user and the
// role that logged in) before it returns, and refuses a privileged one
// with ErrPrivilegedRole, naming each problem and the SQL that fixes it;
// package pgxscope does the same on first use of each pool or
// connection. The check sees the tenant tables (tables with a tenant_id
// column) that exist when it runs, so migrate first. A tool that must
// run as a privileged role says so with WithPrivilegedRole(reason): the
// role is then not checked and the reason goes to the auditor. Audit
// runs the same role check, with the same query, and also reports every
// permissive policy on a tenant table whose USING or WITH CHECK is not
// exactly what RLSSQL generates as PostgreSQL deparses it (an expression
// that merely contains the guard, such as "guard OR true", admits other
// tenants' rows), tables without that policy, RLS not enabled or not
// forced, views over tenant tables without security_invoker and every
// materialized view over one. Extra restrictive policies are accepted.
//
// # Statements without a tenant
//
// RLS.Tx, RLS.TxOptions and the other helpers return tenant.ErrNoTenant
// before sending any statement when the context has no tenant (or an
// empty ID). SQL sent around them without a tenant, on the application
// role, never returns, changes or writes a row of any tenant: every row a
// statement reads passes through the policy first, and the policy's guard
// raises on the first one (an insert evaluates it in its default and its
// WITH CHECK). A statement that reads no row at all, because an index
// condition or a leakproof condition evaluated before the policy excluded
// every row, or LIMIT 0, or WHERE false, succeeds with an empty result;
// a scan using an index that leads with tenant_id has the guard as an
// index condition, evaluated once when the scan starts, so it raises
// whatever matches. The difference between the error and the empty
// result tells such code whether a row satisfying its conditions exists
// in some tenant, never which tenant or what the row holds. PostgreSQL 15
// keeps row level security conditions per row even when they do not
// depend on the row, so no policy can make every statement raise.
//
// Foreign keys
// between tenant tables must carry tenant_id, and unique constraints should
// lead with it:
//
//	CREATE TABLE leads (
//		id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
//		tenant_id text NOT NULL,
//		email text,
//		UNIQUE (tenant_id, id),      -- target of composite foreign keys
//		UNIQUE (tenant_id, email)    -- uniqueness is per tenant
//	);
//	CREATE TABLE tasks (
//		id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
//		tenant_id text NOT NULL,
//		lead_id bigint NOT NULL,
//		FOREIGN KEY (tenant_id, lead_id) REFERENCES leads (tenant_id, id)
//	);
//
// The row filter's lexer reads a statement as the dialect's server does
// and counts a Marker only in plain code, never in a string, quoted
// identifier, dollar quote or comment. For PostgreSQL it knows standard
// strings (with a doubled quote), escape strings (E'…' with
// backslash escapes), Unicode strings and
// identifiers (U&'…', U&"…", with UESCAPE), bit, hex and national strings
// (B'…', X'…', N'…'), string continuation across a newline (which keeps
// an escape string an escape string), dollar quotes ($$…$$, $tag$…$tag$;
// $1 is a parameter), nested block comments, line comments ending at a
// newline or carriage return, quoted identifiers, identifiers holding
// '$', numbers and casts. A standard string is refused where its reading
// would depend on standard_conforming_strings (an odd run of backslashes
// before a quote) or on the client encoding (a backslash after a non-ASCII
// byte). For SQLite it knows strings, double-quoted, backquoted and
// [bracketed] identifiers and flat comments. For MySQL, whose lexing
// depends on sql_mode and the connection's character set, it refuses what
// those settings change: a backslash in a quoted string, a non-ASCII byte
// outside strings and comments, executable comments (/*! … */) and nested
// comments. In every dialect it refuses with ErrStatement what it cannot
// classify with certainty: an unterminated literal or comment, an invalid
// UESCAPE, a lone '$', a number or parameter glued to a letter, a NUL
// byte, a character the server does not accept in code, a '{' that is not
// the marker, a marker glued to a word, named or numbered placeholders,
// and a second statement. Its agreement with PostgreSQL and SQLite is
// tested differentially against the real servers.
//
// Identifiers (tables, schemas, settings) are validated and quoted, never
// escaped; schema names derive only from IDs that pass tenant.ValidateID,
// in a form no slug can spell, so a slug that changes hands (or spells
// another tenant's ID) never leads to another tenant's schema.
//
// # Errors
//
// ErrUnscoped, ErrStatement, ErrTenantColumn, ErrIdentifier, ErrUnsafe
// (Findings.Err), ErrNoPlatformDB, ErrMigration, ErrSchemaConflict,
// ErrUnitEnded, ErrUnitTenant and ErrForeignKeyCycle (TenantTables);
// test with errors.Is. Driver errors are returned wrapped with %w, so
// IsUnavailable sees through them.
//
// ErrPrivilegedRole comes from NewRLS (and pgxscope) when the application
// role escapes row level security; the message names the role, each
// problem and its fix, for example:
//
//	sqlscope: the application role escapes row level security: role app
//	owns tenant table public.leads and so may disable its row level
//	security: give it to the migration role (ALTER TABLE public.leads
//	OWNER TO <owner role>). Connect the application as a role of its own …
//
// EnableRLS checks every table before it changes anything, and changes
// nothing on an error (one transaction): ErrNotTenantTable when a table
// is missing, is not a table, or has no tenant_id column of type text
// or varchar; ErrRowsWithoutTenant when rows have a NULL or empty
// tenant_id. Both messages show the SQL to run, after which EnableRLS can
// be run again:
//
//	ALTER TABLE public.leads ADD COLUMN tenant_id text;
//	UPDATE public.leads SET tenant_id = … WHERE tenant_id IS NULL OR tenant_id = '';
//
// IsUnavailable tells an outage from a wrong statement: it reports true,
// by allow-list, for errors that mean the database cannot serve now (a
// broken or refused connection, the caller's deadline, SQLSTATE classes
// 08, 53 and 58, 57P01 to 57P05, 57014, 55P03, 40001, 40P01). A server
// answers those 503 with Retry-After — never 401 because a user lookup
// failed, nor 404 or 500.
//
// # Pools
//
// The helpers take the caller's *sql.DB and open no pool of their own, so
// its size is the caller's to set, and database/sql's default is
// unbounded. Bound every pool below the server's max_connections
// (PostgreSQL's default is 100, minus superuser_reserved_connections),
// summed over every process and handle that connects:
//
//	db.SetMaxOpenConns(32)           // the application role's handle
//	db.SetMaxIdleConns(32)           // as many idle as open: no churn
//	db.SetConnMaxLifetime(30 * time.Minute)
//	db.SetConnMaxIdleTime(5 * time.Minute)
//	admin.SetMaxOpenConns(8)         // the platform/owner handle
//
// With a maximum, a query beyond it waits for a free connection until its
// context's deadline, then fails with context.DeadlineExceeded
// (IsUnavailable): give each request a deadline. Keeping fewer idle than
// open connections makes the pool close and reopen backends under load.
// On two cores, 32 connections serve 128 concurrent clients of the
// reference server without a 5xx (examples/crm's TestBoundedPoolsHoldAt128Clients);
// more connections than a few per core add contention, not throughput.
// With pgxpool, set pool_max_conns in the URL the same way.
//
// # Connection poolers (PgBouncer)
//
// RLS.Tx sets the tenant with set_config(…, true), which lasts exactly
// one transaction, so it is safe behind PgBouncer in transaction pooling
// mode, where consecutive transactions of one client run on whichever
// server connection is free: the setting never reaches the next client
// (tested through PgBouncer 1.18 with 24 clients of 12 tenants on 3
// server connections, every row read checked, and unscoped statements
// between scoped units seeing no tenant). Under transaction pooling:
//
//   - Use pgx with default_query_exec_mode=exec (or simple_protocol,
//     describe_exec, cache_describe) in the URL. pgx's default,
//     cache_statement, names prepared statements, which PgBouncer 1.18
//     does not carry between server connections: two clients sharing one
//     fail with "prepared statement … already exists" (tested for each
//     mode in pgxscope).
//   - Session state belongs to no client: a session-level SET, RESET,
//     session advisory locks (pg_advisory_lock), LISTEN, temporary tables
//     kept past a transaction, WITH HOLD cursors and PREPARE all stay on
//     the server connection and reach whoever runs on it next (a SET of
//     the tenant setting outside a transaction is seen by another client:
//     tested). Set nothing outside a transaction; use
//     pg_advisory_xact_lock and SET LOCAL.
//   - Audit and NewRLS's role check work through PgBouncer (tested); run
//     migrations directly against PostgreSQL.
//
// # Citus
//
// Citus refuses policies with a sub-select on distributed tables, which
// RLSSQL writes. CitusRLSSQL and EnableCitusRLS write the form it
// accepts, tenant_id = current_setting(setting, true), and Audit accepts
// either form. Citus is not installable on the machines this package is
// tested on: the DDL and the queries are tested on plain PostgreSQL, and
// ExampleCitusRLSSQL shows the Citus-specific statements. On Citus:
//
//   - distribute every tenant table by tenant_id
//     (create_distributed_table('leads', 'tenant_id')), co-locate them
//     (colocate_with), and put tenant_id first in every primary key,
//     unique constraint and foreign key, as Audit already requires for
//     foreign keys;
//   - set citus.propagate_set_commands = 'local' (in postgresql.conf or
//     ALTER ROLE … SET), so that the transaction-local tenant setting is
//     sent to the workers;
//   - give each query an explicit tenant_id = $n, so that Citus routes
//     it to one shard: the row filter (Filter, with the {tenant} marker)
//     writes it, and RLS checks it. A query without it is fanned out to
//     every shard, where the policy still hides other tenants' rows.
//
// # Testing
//
// The tests run against a real PostgreSQL (TENANTWALL_POSTGRES_URL) as a
// role that is neither superuser, table owner nor BYPASSRLS, each in a
// database of its own, and against SQLite files. The row filter's lexer
// has hostile table tests, Fuzz targets, and differential tests that let
// PostgreSQL and SQLite confirm every marker it binds is code for them
// (FuzzBindAgreesWithPostgres, FuzzBindAgreesWithSQLite).
package sqlscope
