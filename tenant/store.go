package tenant

import "context"

// Lookup is the read side of a Store: what resolve needs to map a request to
// a tenant. Implementations return ErrNotFound (wrapped or not) for a
// missing tenant or domain, and other errors only for system failures, so
// that callers can tell "no such tenant" from "cannot tell".
type Lookup interface {
	// ByID returns the tenant with the given ID.
	ByID(ctx context.Context, id string) (Tenant, error)
	// BySlug returns the tenant with the given slug.
	BySlug(ctx context.Context, slug string) (Tenant, error)
	// ByDomain returns the domain record for a canonical host name, in any
	// status, and the tenant it belongs to. Callers decide what a status
	// allows; resolve serves only DomainActive.
	ByDomain(ctx context.Context, host string) (Tenant, Domain, error)
}

// Store keeps tenants and their custom domains. Every implementation in
// tenantwall passes tenanttest.RunStoreTests; run it against your own.
//
// Implementations validate what they are given (Tenant.Validate,
// Domain.Validate) and keep a domain with at most one tenant at a time.
// They must be safe for concurrent use.
type Store interface {
	Lookup

	// Create adds a tenant. It returns ErrExists when the ID or the slug is
	// taken.
	Create(ctx context.Context, t Tenant) error
	// Update replaces the tenant with t.ID. The slug may change if the new
	// one is free; ErrNotFound if there is no such tenant.
	Update(ctx context.Context, t Tenant) error
	// Delete removes a tenant and all its domain records.
	Delete(ctx context.Context, id string) error
	// List returns every tenant, ordered by slug.
	List(ctx context.Context) ([]Tenant, error)

	// PutDomain adds or updates a domain record. It returns ErrDomainTaken
	// when the host belongs to another tenant; a removed domain may pass
	// to another tenant, but only as DomainPending (takeover protection),
	// and ErrNotFound when the tenant does not exist.
	PutDomain(ctx context.Context, d Domain) error
	// DeleteDomain erases a domain record entirely. Prefer setting
	// DomainRemoved, which keeps the takeover protection.
	DeleteDomain(ctx context.Context, host string) error
	// Domains returns a tenant's domain records, ordered by host.
	Domains(ctx context.Context, tenantID string) ([]Domain, error)
}
