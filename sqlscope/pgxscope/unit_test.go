package pgxscope_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/sqlscope"
	"github.com/tenantwall/tenantwall/sqlscope/pgxscope"
	"github.com/tenantwall/tenantwall/tenant"
)

type eventLog struct {
	mu     sync.Mutex
	events []tenant.Event
}

func (l *eventLog) Audit(_ context.Context, e tenant.Event) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
}

func (l *eventLog) count(k tenant.EventKind) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, e := range l.events {
		if e.Kind == k {
			n++
		}
	}
	return n
}

func pgxUnits(t *testing.T, f *fixture) (*pgxscope.Units, *eventLog) {
	t.Helper()
	log := &eventLog{}
	scope, err := pgxscope.New(pgxscope.WithAuditor(log))
	require.NoError(t, err)
	us, err := pgxscope.NewUnits(f.pool, scope)
	require.NoError(t, err)
	return us, log
}

// serveUnit runs h behind a tenant and the units' middleware.
func serveUnit(us *pgxscope.Units, tn tenant.Tenant, method string, h http.HandlerFunc) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		us.Middleware(h).ServeHTTP(w, r.WithContext(tenant.NewContext(r.Context(), tn)))
	}).ServeHTTP(w, httptest.NewRequest(method, "/", nil))
	return w
}

func TestPgxUnitIsOneTransactionInFewRoundTrips(t *testing.T) {
	f := newFixture(t, 1)
	us, _ := pgxUnits(t, f)
	var xids [2]string
	var n int
	handler := func(w http.ResponseWriter, r *http.Request) {
		u, ok := pgxscope.UnitFromContext(r.Context())
		require.True(t, ok)
		require.NoError(t, u.QueryRow(r.Context(), `SELECT pg_current_xact_id()::text`).Scan(&xids[0]))
		require.NoError(t, u.QueryRow(r.Context(), `SELECT count(*) FROM leads`).Scan(&n))
		require.NoError(t, u.QueryRow(r.Context(), `SELECT pg_current_xact_id()::text`).Scan(&xids[1]))
	}
	serveUnit(us, f.a, "GET", handler) // prepares the statements
	writes := f.count(func() { assert.Equal(t, http.StatusOK, serveUnit(us, f.a, "GET", handler).Code) })
	assert.Equal(t, xids[0], xids[1], "one transaction for the request")
	assert.Equal(t, 100, n, "tenant A's rows only")
	assert.Equal(t, int64(5), writes, "BEGIN+set_config, three statements, COMMIT")
}

func TestPgxUnitRefusesWhatIsNotItsRequest(t *testing.T) {
	f := newFixture(t, 1)
	us, log := pgxUnits(t, f)
	var kept *pgxscope.Unit
	w := serveUnit(us, f.a, "POST", func(w http.ResponseWriter, r *http.Request) {
		u, _ := pgxscope.UnitFromContext(r.Context())
		kept = u
		_, err := u.Exec(f.ctxB, `DELETE FROM leads`)
		assert.ErrorIs(t, err, sqlscope.ErrUnitTenant)
		_, err = u.Query(f.ctxB, `SELECT * FROM leads`)
		assert.ErrorIs(t, err, sqlscope.ErrUnitTenant)
		var n int
		assert.ErrorIs(t, u.QueryRow(f.ctxB, `SELECT count(*) FROM leads`).Scan(&n), sqlscope.ErrUnitTenant)
		assert.Equal(t, 3, log.count(tenant.EventCrossTenant))
		assert.ErrorIs(t, u.QueryRow(context.Background(), `SELECT 1`).Scan(&n), tenant.ErrNoTenant)
		w.WriteHeader(http.StatusNoContent)
		_, err = u.Exec(r.Context(), `DELETE FROM leads`)
		assert.ErrorIs(t, err, sqlscope.ErrUnitEnded)
	})
	assert.Equal(t, http.StatusNoContent, w.Code)
	_, err := kept.Exec(f.ctxA, `DELETE FROM leads`)
	assert.ErrorIs(t, err, sqlscope.ErrUnitEnded)
	var n int
	require.NoError(t, f.admin.QueryRow(`SELECT count(*) FROM leads_plain`).Scan(&n))
	assert.Equal(t, 200, n)
}

func TestPgxUnitCommitRule(t *testing.T) {
	f := newFixture(t, 1)
	// A deferred unique constraint fails at COMMIT, not at the INSERT.
	_, err := f.admin.Exec(`ALTER TABLE leads NO FORCE ROW LEVEL SECURITY;
		UPDATE leads SET name = 'lead ' || id;
		ALTER TABLE leads FORCE ROW LEVEL SECURITY;
		ALTER TABLE leads ADD CONSTRAINT leads_name_once UNIQUE (tenant_id, name) DEFERRABLE INITIALLY DEFERRED`)
	require.NoError(t, err)
	us, _ := pgxUnits(t, f)
	count := func(name string) (n int) {
		err := us.Run(f.ctxA, func(ctx context.Context) error {
			u, _ := pgxscope.UnitFromContext(ctx)
			return u.QueryRow(ctx, `SELECT count(*) FROM leads WHERE name = $1`, name).Scan(&n)
		})
		require.NoError(t, err)
		return n
	}
	insert := func(r *http.Request, id int, name string) {
		u, _ := pgxscope.UnitFromContext(r.Context())
		_, err := u.Exec(r.Context(), `INSERT INTO leads (id, name) VALUES ($1, $2)`, id, name)
		require.NoError(t, err)
	}
	t.Run("a write is committed before its 201, and OnCommit runs", func(t *testing.T) {
		ran := false
		w := serveUnit(us, f.a, "POST", func(w http.ResponseWriter, r *http.Request) {
			insert(r, 5001, "kept")
			u, _ := pgxscope.UnitFromContext(r.Context())
			require.NoError(t, u.OnCommit(func() { ran = true }))
			w.WriteHeader(http.StatusCreated)
			assert.True(t, ran, "before the status")
			assert.ErrorIs(t, u.OnCommit(func() {}), sqlscope.ErrUnitEnded)
		})
		assert.Equal(t, http.StatusCreated, w.Code)
		assert.Equal(t, 1, count("kept"))
	})
	t.Run("a write that fails to commit is answered 500, never 2xx", func(t *testing.T) {
		ran := false
		w := serveUnit(us, f.a, "POST", func(w http.ResponseWriter, r *http.Request) {
			insert(r, 5002, "twice")
			insert(r, 5003, "twice")
			u, _ := pgxscope.UnitFromContext(r.Context())
			require.NoError(t, u.OnCommit(func() { ran = true }))
			_, err := w.Write([]byte(`{"ok":true}`))
			assert.ErrorIs(t, err, sqlscope.ErrUnitEnded)
		})
		assert.False(t, ran)
		assert.Equal(t, http.StatusInternalServerError, w.Code)
		assert.NotContains(t, w.Body.String(), "ok")
		assert.Zero(t, count("twice"))
	})
	t.Run("an error status rolls back", func(t *testing.T) {
		w := serveUnit(us, f.a, "POST", func(w http.ResponseWriter, r *http.Request) {
			insert(r, 5004, "refused")
			w.WriteHeader(http.StatusConflict)
		})
		assert.Equal(t, http.StatusConflict, w.Code)
		assert.Zero(t, count("refused"))
	})
	t.Run("a GET is read-only", func(t *testing.T) {
		var err error
		serveUnit(us, f.a, "GET", func(w http.ResponseWriter, r *http.Request) {
			u, _ := pgxscope.UnitFromContext(r.Context())
			_, err = u.Exec(r.Context(), `INSERT INTO leads (id, name) VALUES (5005, 'read only')`)
		})
		assert.Error(t, err)
		assert.Zero(t, count("read only"))
	})
	t.Run("statements that end the transaction are an error", func(t *testing.T) {
		err := us.Run(f.ctxA, func(ctx context.Context) error {
			u, _ := pgxscope.UnitFromContext(ctx)
			_, err := u.Exec(ctx, `COMMIT`)
			return err
		})
		assert.ErrorIs(t, err, pgxscope.ErrTransactionEnded)
	})
	assert.Zero(t, f.pool.Stat().AcquiredConns(), "every unit gave its connection back")
	_, err = f.pool.Exec(context.Background(), `SELECT * FROM leads`)
	assert.Error(t, err, "the pool's connection has no tenant left")
}

func TestNewUnitsRefusesBadArguments(t *testing.T) {
	scope, err := pgxscope.New()
	require.NoError(t, err)
	_, err = pgxscope.NewUnits(nil, scope)
	assert.Error(t, err)
	f := newFixture(t, 1)
	_, err = pgxscope.NewUnits(f.pool, nil)
	assert.Error(t, err)
	_, err = pgxscope.NewUnits(f.pool, scope, pgxscope.WithEndErrorHandler(nil))
	assert.Error(t, err)
}
