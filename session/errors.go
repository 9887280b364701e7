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

	// ErrHashInUse reports a Store.Create for a token hash that already
	// holds a live record: a fresh token is never written over another.
	ErrHashInUse = errors.New("session: token hash already in use")

	// ErrStore reports that the session store failed (unreachable, timed
	// out): the session's state is unknown, not absent. Middleware answers
	// it with the error handler (503); Login, Logout, Renew, Set and the
	// Destroy methods return it wrapped around the store's error.
	ErrStore = errors.New("session: store failed")

	// ErrConfig reports an invalid option.
	ErrConfig = errors.New("session: invalid configuration")
)
