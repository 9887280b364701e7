package sqlscope

import "errors"

// Sentinel errors; test with errors.Is. A missing tenant is
// tenant.ErrNoTenant, returned before any SQL is sent.
var (
	// ErrUnscoped reports a row-filter statement that does not reference
	// the tenant through the {tenant} marker.
	ErrUnscoped = errors.New("sqlscope: statement does not reference the tenant")

	// ErrStatement reports a row-filter statement that the filter's
	// lexer cannot classify with certainty (an unterminated literal or
	// comment, a construct whose meaning depends on a server setting, a
	// misspelt or glued marker, a second statement) or whose placeholders
	// do not match its arguments. It is refused, never run unscoped.
	ErrStatement = errors.New("sqlscope: row filter cannot lex the statement with certainty")

	// ErrTenantColumn reports an insert that sets the tenant column itself:
	// the tenant comes from the context, never from the caller's values.
	ErrTenantColumn = errors.New("sqlscope: tenant column set by caller")

	// ErrIdentifier reports an identifier (table, schema, column, setting)
	// that is not allowed.
	ErrIdentifier = errors.New("sqlscope: invalid identifier")

	// ErrUnsafe reports an Audit that found problems; the error lists them.
	ErrUnsafe = errors.New("sqlscope: database isolation audit failed")

	// ErrNoPlatformDB reports platform-wide work asked of an RLS without a
	// platform handle (WithPlatformDB).
	ErrNoPlatformDB = errors.New("sqlscope: no platform database configured")

	// ErrPrivilegedRole reports an application role that row level
	// security does not bind: superuser, BYPASSRLS, CREATEROLE, owner of
	// a tenant table, a member of such a role, or a role that reaches the
	// server's files or programs; or a nil handle, whose
	// role cannot be checked. The error names each problem and
	// its fix. NewRLS (and pgxscope on first use) return it.
	ErrPrivilegedRole = errors.New("sqlscope: the application role escapes row level security")

	// ErrNotTenantTable reports a table EnableRLS cannot isolate: missing,
	// not a table, or without a text tenant_id column. The error shows
	// the SQL that fixes it.
	ErrNotTenantTable = errors.New("sqlscope: not a tenant table")

	// ErrRowsWithoutTenant reports a table EnableRLS cannot isolate
	// because rows have a NULL or empty tenant_id. The error shows the
	// SQL that backfills them.
	ErrRowsWithoutTenant = errors.New("sqlscope: rows without a tenant")

	// ErrForeignKeyCycle reports tenant tables whose foreign keys form a
	// cycle (a table referencing itself included), which TenantTables
	// cannot order parents first. The error names the tables.
	ErrForeignKeyCycle = errors.New("sqlscope: foreign keys between tenant tables form a cycle")

	// ErrMigration reports a schema migration that failed for one or more
	// tenants; the Report says which.
	ErrMigration = errors.New("sqlscope: migration failed")

	// ErrUnitEnded reports a statement sent through a Unit whose request
	// (or Run) has ended, or whose response status has been sent. Nothing
	// was sent to the database.
	ErrUnitEnded = errors.New("sqlscope: the unit of work has ended")

	// ErrUnitTenant reports a statement sent through a Unit under a
	// context of another tenant than the unit's request. Nothing was sent;
	// the attempt is reported to the auditor.
	ErrUnitTenant = errors.New("sqlscope: the unit of work belongs to another tenant")

	// ErrSchemaConflict reports a tenant with both a slug-named schema of
	// an earlier version and its ID-named schema, or a migration asked for
	// a tenant whose slug-named schema has not been adopted: which holds
	// the tenant's data is for an operator to decide (AdoptSlugSchema).
	ErrSchemaConflict = errors.New("sqlscope: tenant schema conflict")
)
