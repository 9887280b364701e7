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

	// ErrCommand reports a Redis command the Guard refuses: one that is
	// not in its table, that acts on the whole keyspace or administers the
	// server, or whose arguments it cannot read.
	ErrCommand = errors.New("cachekey: command refused by the tenant guard")

	// ErrUntrustedScript reports a script (EVAL, EVALSHA, SCRIPT LOAD…) or
	// function (FCALL) that the application did not register with
	// WithTrustedScripts or WithTrustedFunctions. Errors wrapping it also
	// wrap ErrCommand.
	ErrUntrustedScript = errors.New("cachekey: script or function not registered as trusted")

	// ErrEpoch reports a Redis epoch key (see Keyspace) that keeps holding
	// something other than an epoch this package wrote, even after being
	// replaced: generations cannot be trusted, so no key is built.
	ErrEpoch = errors.New("cachekey: Redis epoch key unusable")

	// ErrConfig reports an invalid option.
	ErrConfig = errors.New("cachekey: invalid configuration")
)
