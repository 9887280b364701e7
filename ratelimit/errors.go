package ratelimit

import "errors"

// Sentinel errors; test with errors.Is. A missing tenant is
// tenant.ErrNoTenant.
var (
	// ErrInvalidLimit reports a Limit whose Rate, Burst or Period is not
	// positive, or a cost that is not; nothing was counted.
	ErrInvalidLimit = errors.New("ratelimit: invalid limit")

	// ErrInvalidUser reports a user ID that is empty or longer than
	// MaxUserLen bytes; nothing was counted.
	ErrInvalidUser = errors.New("ratelimit: invalid user ID")

	// ErrStore reports that the Store failed (Redis unreachable, a
	// timeout): the request could not be counted. Limiter fails closed on
	// it unless WithFailOpen(true).
	ErrStore = errors.New("ratelimit: store unavailable")

	// ErrPolicy reports that the tenant's policy could not be decided.
	ErrPolicy = errors.New("ratelimit: no policy for the tenant")

	// ErrConfig reports an invalid option.
	ErrConfig = errors.New("ratelimit: invalid configuration")
)
