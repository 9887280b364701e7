// Package sqlstore is a tenant.Store on SQL: PostgreSQL (any database/sql
// driver) or SQLite. It keeps tenants and their custom domains in two
// tables, tenantwall_tenants and tenantwall_domains, and passes
// tenanttest.RunStoreTests on both engines.
//
// These tables are the platform's registry, read before a request's
// tenant is known, so they are not under row level security; the domain
// table names its tenant owner_id, not tenant_id, so that sqlscope.Audit
// does not mistake it for tenant data. Grant the application role SELECT
// on them, and writes only to the operator role.
package sqlstore
