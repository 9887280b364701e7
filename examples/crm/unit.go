package main

import (
	"context"
	"net/http"

	"github.com/tenantwall/tenantwall/sqlscope"
	"github.com/tenantwall/tenantwall/sqlscope/pgxscope"
)

// withUnits gives each API request one unit of work (sqlscope.Units):
// authed's user lookup and the handler's statements share one scoped
// transaction, committed before the response status is sent (a write
// that fails to commit is answered 5xx, never 2xx) and rolled back on an
// error status. The routes of ownTx keep a transaction per statement.
func (a *app) withUnits(next http.Handler) http.Handler {
	scoped := a.data.units.Middleware(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && ownTx[r.URL.Path] {
			next.ServeHTTP(w, r)
			return
		}
		scoped.ServeHTTP(w, r)
	})
}

// ownTx are the POST routes that must not hold a transaction for the
// whole request. The uploads read a file of up to 25 MiB from the client
// between the user lookup and their insert; sign-in checks a bcrypt hash
// (tens of milliseconds) after its lookup, and a POST's unit would hold
// SQLite's write lock (_txlock=immediate) meanwhile. Each sends one
// statement, or one per step, in a transaction of its own.
var ownTx = map[string]bool{
	"/api/documents/":          true,
	"/api/applicants/":         true,
	"/api/auth/login/":         true,
	"/api/auth/token/":         true,
	"/api/auth/token/refresh/": true,
	"/api/auth/logout/":        true,
}

// newUnits makes the units of x's handle: on PostgreSQL each sets the
// tenant for row level security, on SQLite the row filter scopes every
// statement (data.tx).
func newUnits(x *data) (*sqlscope.Units, error) {
	opts := []sqlscope.UnitsOption{sqlscope.WithEndErrorHandler(unitEndError)}
	if x.rls != nil {
		// pgx's driver: BEGIN and set_config in one round trip.
		opts = append(opts, sqlscope.WithRLS(x.rls), sqlscope.WithConnBeginner(pgxscope.Stdlib{}))
	}
	return sqlscope.NewUnits(x.db, opts...)
}

// unitEndError answers a request whose transaction failed to commit.
func unitEndError(w http.ResponseWriter, _ *http.Request, err error) {
	if unavailable(err) {
		writeUnavailable(w)
		return
	}
	writeError(w, http.StatusInternalServerError, "internal error")
}

// afterCommit runs fn once the request's writes are committed, or at
// once outside a unit (whose data.tx has committed already).
func afterCommit(ctx context.Context, fn func()) {
	if u, ok := sqlscope.UnitFromContext(ctx); ok && u.OnCommit(fn) == nil {
		return
	}
	fn()
}
