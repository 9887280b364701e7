package cachekey

import "errors"

// Sentinel errors; test with errors.Is. A missing tenant is
// tenant.ErrNoTenant.
var (
	// ErrNoParts reports a key built from no parts.
	ErrNoParts = errors.New("cachekey: a key needs at least one part")

	// ErrForeignKey reports a Redis command, refused by the Guard, that
	// names a key outside the context tenant's namespace.
	ErrForeignKey = errors.New("cachekey: key outside the tenant's namespace")

	// ErrCommand reports a Redis command the Guard does not know how to
	// check, or that acts on the whole keyspace; it is refused.
	ErrCommand = errors.New("cachekey: command refused by the tenant guard")

	// ErrConfig reports an invalid option.
	ErrConfig = errors.New("cachekey: invalid configuration")
)
