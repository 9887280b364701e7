package session

import "errors"

// Sentinel errors; test with errors.Is.
var (
	// ErrNoSession reports an operation that needs a session when the
	// request has none.
	ErrNoSession = errors.New("session: no session")

	// ErrCookieTossing reports a request carrying several session cookies:
	// one of them may have been planted by a sibling subdomain.
	ErrCookieTossing = errors.New("session: several session cookies")

	// ErrConfig reports an invalid option.
	ErrConfig = errors.New("session: invalid configuration")
)
