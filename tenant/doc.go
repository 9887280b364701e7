// Package tenant is the floor of tenantwall: the Tenant value, the context
// that carries it, the Store of tenants and their custom domains, the slug,
// ID and domain rules, audit events and log attributes. It imports only the
// standard library, and every other tenantwall package builds on it.
//
// A request is served for exactly one tenant. Middleware (see package
// resolve) decides which from the host and puts it in the request context
// with NewContext; everything below reads it back with FromContext or
// IDFromContext and fails closed with ErrNoTenant when it is absent.
//
// # Security
//
// ID is the isolation key everywhere; a slug names a tenant in host names
// but may be renamed. NewContext copies the tenant, and FromContext returns a
// copy, so the tenant of a request cannot be changed once set. The only way
// to act without a tenant is WithPlatformScope, which needs a reason. Code
// that acts on it, in tenantwall and in applications, checks it with
// RequirePlatformScope: without the mark that fails with ErrNoTenant, like
// any tenant-scoped call without a tenant, and with it the use and its
// reason are reported to the Auditor as EventPlatformAccess.
//
// Cross-tenant attempts are reported to an Auditor as EventCrossTenant; the
// default, LogAuditor, writes a structured slog warning naming both tenants.
//
// # Errors
//
// Errors are sentinel values (ErrNoTenant, ErrNotFound, ErrExists,
// ErrDomainTaken, ErrInvalidSlug, ErrReservedSlug, ErrInvalidID,
// ErrInvalidDomain, ErrInvalidTenant) wrapped with the offending value; test
// them with errors.Is.
//
// # Testing
//
// Package tenanttest holds a conformance suite, RunStoreTests, that every
// Store must pass; this repository runs it against MemStore and the SQL
// stores.
package tenant
