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
// error status. The two upload routes keep a transaction per statement:
// they read a file of up to 25 MiB from the client between the user
// lookup and their insert, and no transaction should stay open while a
// client sends one.
func (a *app) withUnits(next http.Handler) http.Handler {
	scoped := a.data.units.Middleware(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && (r.URL.Path == "/api/documents/" || r.URL.Path == "/api/applicants/") {
			next.ServeHTTP(w, r)
			return
		}
		scoped.ServeHTTP(w, r)
	})
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
