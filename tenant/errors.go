package tenant

import "errors"

// Sentinel errors. Functions wrap them with %w and the offending value, so
// callers test with errors.Is.
var (
	// ErrNoTenant is returned by every tenantwall function that needs a
	// tenant when the context carries none. It is the fail-closed answer:
	// never an unscoped query, key, path or token.
	ErrNoTenant = errors.New("tenant: no tenant in context")

	// ErrNotFound reports that a tenant or domain does not exist.
	ErrNotFound = errors.New("tenant: not found")

	// ErrExists reports that a tenant with the same ID or slug exists already.
	ErrExists = errors.New("tenant: already exists")

	// ErrDomainTaken reports that a domain is registered to another tenant.
	ErrDomainTaken = errors.New("tenant: domain belongs to another tenant")

	// ErrInvalidSlug reports a slug that breaks the slug rules; the wrapping
	// error says which rule.
	ErrInvalidSlug = errors.New("tenant: invalid slug")

	// ErrReservedSlug reports a slug on the reserved list. It wraps
	// ErrInvalidSlug as well, so errors.Is(err, ErrInvalidSlug) holds too.
	ErrReservedSlug = errors.New("tenant: reserved slug")

	// ErrInvalidID reports an ID that is not a canonical lowercase UUID.
	ErrInvalidID = errors.New("tenant: invalid id")

	// ErrInvalidDomain reports a host name that is not a canonical DNS name.
	ErrInvalidDomain = errors.New("tenant: invalid domain")

	// ErrNoReason is returned by WithPlatformScope for an empty reason.
	ErrNoReason = errors.New("tenant: platform scope needs a reason")

	// ErrInvalidTenant reports a Tenant value with a missing or bad field.
	ErrInvalidTenant = errors.New("tenant: invalid tenant")
)
