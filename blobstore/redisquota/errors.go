package redisquota

import "errors"

// Sentinel errors; test with errors.Is. A malformed tenant ID is
// tenant.ErrInvalidID.
var (
	// ErrConfig reports an invalid option.
	ErrConfig = errors.New("redisquota: invalid configuration")

	// ErrRedis reports that Redis did not answer a ledger call; the
	// Store refuses the upload (or drops the count, after a delete).
	ErrRedis = errors.New("redisquota: Redis failed")

	// ErrInvalidReservation reports a reservation ID that is not 1 to 64
	// lowercase hex digits; nothing was sent to Redis.
	ErrInvalidReservation = errors.New("redisquota: invalid reservation ID")
)
