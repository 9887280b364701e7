package sqlscope

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"

	"github.com/jackc/pgx/v5/pgconn"
)

// IsUnavailable reports whether err says that the database could not
// serve the statement now — it was unreachable, out of connections,
// shutting down, too slow for the caller's deadline, or aborted the
// transaction for a conflict it asks the client to retry — rather than
// that the statement or its data was wrong. An HTTP server answers such
// an error 503 with Retry-After, never 401, 404 or 500.
//
// It decides by allow-list; every other error (a constraint violation, a
// syntax error, a permission error, sql.ErrNoRows, tenant.ErrNoTenant)
// reports false. Unavailable are:
//
//   - context.DeadlineExceeded: the request's deadline passed waiting
//     for a pool connection or for the server;
//   - driver.ErrBadConn, sql.ErrConnDone and pgconn.ErrConnClosed: the
//     connection broke (pgx reports a connection it found dead while in
//     use with the last);
//   - any net.Error (refused, reset, timed out) and io.ErrUnexpectedEOF
//     (the server closed the connection mid-message);
//   - an error whose SafeToRetry method reports true (pgconn: nothing was
//     sent, such as a closed connection);
//   - a server error whose SQLState method (pgconn.PgError, lib/pq) gives
//     class 08 (connection exception), class 53 (insufficient resources,
//     such as 53300 too many connections), class 58 (system error, such as
//     an I/O error), 57P01 to 57P05 (administrator or crash shutdown,
//     cannot connect now, idle session timeout), 57014 (statement timeout
//     or cancel), 55P03 (lock not available), 40001 (serialization
//     failure) or 40P01 (deadlock detected).
//
// context.Canceled is not unavailability: the caller gave up. It is safe
// to call with a nil error (false).
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, sql.ErrConnDone) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, pgconn.ErrConnClosed) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var retry interface{ SafeToRetry() bool }
	if errors.As(err, &retry) && retry.SafeToRetry() {
		return true
	}
	var state interface{ SQLState() string }
	if errors.As(err, &state) {
		return unavailableState(state.SQLState())
	}
	return false
}

// unavailableState is the allow-list of SQLSTATE codes that say the
// server cannot serve now, not that the statement was wrong.
func unavailableState(code string) bool {
	if len(code) != 5 {
		return false
	}
	for i := 0; i < len(code); i++ {
		if c := code[i]; !('0' <= c && c <= '9' || 'A' <= c && c <= 'Z') {
			return false // not a SQLSTATE: nothing to say about it
		}
	}
	switch code[:2] {
	case "08", "53", "58":
		return true
	}
	switch code {
	case "57P01", "57P02", "57P03", "57P04", "57P05", "57014", "55P03", "40001", "40P01":
		return true
	}
	return false
}
