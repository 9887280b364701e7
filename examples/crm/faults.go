package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tenantwall/tenantwall/jwtclaims"
	"github.com/tenantwall/tenantwall/resolve"
	"github.com/tenantwall/tenantwall/session"
	"github.com/tenantwall/tenantwall/sqlscope"
)

// retryAfter is the Retry-After of every 503: a restarted database or
// Redis is usually back within seconds.
const retryAfter = "5"

// unavailable reports whether err means that a backing service — the
// database, the tenant store, the session store, Redis, the token keys —
// could not serve the request now. Such a request is answered 503 with
// Retry-After: it says nothing about the client's credentials or about
// whether the resource exists, so 401, 404 or 500 would be lies.
func unavailable(err error) bool {
	return sqlscope.IsUnavailable(err) ||
		errors.Is(err, session.ErrStore) ||
		errors.Is(err, jwtclaims.ErrKeySource) ||
		errors.Is(err, resolve.ErrLookup) ||
		errors.Is(err, redis.ErrPoolTimeout) ||
		errors.Is(err, redis.ErrPoolExhausted)
}

// writeUnavailable answers 503 with Retry-After, in the API's JSON shape.
func writeUnavailable(w http.ResponseWriter) {
	w.Header().Set("Retry-After", retryAfter)
	writeError(w, http.StatusServiceUnavailable, "service unavailable")
}

var unavailableHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { writeUnavailable(w) })

// withRequestLimits gives every request it wraps a deadline, so
// that a request waiting for a pool connection, or for a stalled
// database, gives up with 503 instead of holding its client forever; and
// it marks a body read cut off by the server's read timeout with
// errSlowBody, so that it is answered 408 — the client was slow — and not
// taken for an unavailable backend.
func withRequestLimits(d time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = slowBody{r.Body}
		}
		ctx, cancel := context.WithTimeout(r.Context(), d)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// errSlowBody reports a request body that did not arrive within the
// server's read timeout.
var errSlowBody = errors.New("request body too slow")

// slowBody wraps a request body so that a read that timed out wraps
// errSlowBody.
type slowBody struct{ io.ReadCloser }

func (b slowBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	var ne net.Error
	if err != nil && errors.As(err, &ne) && ne.Timeout() {
		err = fmt.Errorf("%w: %w", errSlowBody, err)
	}
	return n, err
}
