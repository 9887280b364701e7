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
//     BEGIN. Audit inspects a live database for every way this can be
//     misconfigured.
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
// # Security
//
// Every helper takes the tenant from the context and returns
// tenant.ErrNoTenant before sending any SQL when there is none. The only
// way around it is RLS.PlatformTx, which needs tenant.WithPlatformScope's
// reason, a separate privileged handle, and reports to the auditor.
//
// Run the application as a role that is neither superuser, nor BYPASSRLS,
// nor owner of tenant tables; Audit reports each of these. Foreign keys
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
// Identifiers (tables, schemas, settings) are validated and quoted, never
// escaped; schema names derive only from IDs that pass tenant.ValidateID,
// in a form no slug can spell, so a slug that changes hands (or spells
// another tenant's ID) never leads to another tenant's schema.
//
// # Errors
//
// ErrUnscoped, ErrTenantColumn, ErrIdentifier, ErrUnsafe (Findings.Err),
// ErrNoPlatformDB, ErrMigration and ErrSchemaConflict; test with
// errors.Is.
//
// # Testing
//
// The tests run against a real PostgreSQL (TENANTWALL_POSTGRES_URL) as a
// role that is neither superuser, table owner nor BYPASSRLS, each in a
// database of its own, and against SQLite files.
package sqlscope
