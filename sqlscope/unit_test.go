package sqlscope_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/sqlscope"
	"github.com/tenantwall/tenantwall/sqlscope/pgxscope"
	"github.com/tenantwall/tenantwall/tenant"
	"github.com/tenantwall/tenantwall/tenant/tenanttest"
)

// recordingAuditor keeps the events it is given.
type recordingAuditor struct {
	mu     sync.Mutex
	events []tenant.Event
}

func (a *recordingAuditor) Audit(_ context.Context, e tenant.Event) {
	a.mu.Lock()
	a.events = append(a.events, e)
	a.mu.Unlock()
}

func (a *recordingAuditor) kinds() []tenant.EventKind {
	a.mu.Lock()
	defer a.mu.Unlock()
	var k []tenant.EventKind
	for _, e := range a.events {
		k = append(k, e.Kind)
	}
	return k
}

// withTenant is the resolving middleware the unit's middleware goes after.
func withTenant(t tenant.Tenant, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(tenant.NewContext(r.Context(), t)))
	})
}

func (f *rlsFixture) units(t *testing.T, opts ...sqlscope.UnitsOption) (*sqlscope.Units, *recordingAuditor) {
	t.Helper()
	aud := &recordingAuditor{}
	us, err := sqlscope.NewUnits(f.app, append([]sqlscope.UnitsOption{sqlscope.WithRLS(f.rls), sqlscope.WithUnitAuditor(aud)}, opts...)...)
	require.NoError(t, err)
	return us, aud
}

func (f *rlsFixture) leadCount(t *testing.T, name string) int {
	t.Helper()
	var n int
	require.NoError(t, f.admin.QueryRow(`SELECT count(*) FROM leads WHERE name = $1`, name).Scan(&n))
	return n
}

// serve runs h behind the tenant and unit middlewares and returns the
// status the client got, recovering a panic as the server would.
func serve(us *sqlscope.Units, tn tenant.Tenant, h http.HandlerFunc) (code int) {
	rec := httptest.NewRecorder()
	func() {
		defer func() {
			if recover() != nil {
				code = -1
			}
		}()
		withTenant(tn, us.Middleware(h)).ServeHTTP(rec, httptest.NewRequest("POST", "/", nil))
	}()
	if code == 0 {
		code = rec.Code
	}
	return code
}

func testUnitSharesOneTransactionPerRequest(t *testing.T, begin ...sqlscope.UnitsOption) {
	f := newRLSFixture(t)
	f.insertLead(t, f.ctxA, "lead of A")
	f.insertLead(t, f.ctxB, "lead of B")
	us, _ := f.units(t, begin...)
	var xids []string
	var names []string
	code := serve(us, f.a, func(w http.ResponseWriter, r *http.Request) {
		u, ok := sqlscope.UnitFromContext(r.Context())
		require.True(t, ok)
		for range 3 {
			var xid string
			require.NoError(t, u.QueryRowContext(r.Context(), `SELECT pg_current_xact_id()::text`).Scan(&xid))
			xids = append(xids, xid)
		}
		rows, err := u.QueryContext(r.Context(), `SELECT name FROM leads ORDER BY id`)
		require.NoError(t, err)
		defer rows.Close()
		for rows.Next() {
			var n string
			require.NoError(t, rows.Scan(&n))
			names = append(names, n)
		}
		require.NoError(t, rows.Err())
	})
	assert.Equal(t, http.StatusOK, code)
	require.Len(t, xids, 3)
	assert.Equal(t, xids[0], xids[1], "every statement of a request runs in one transaction")
	assert.Equal(t, xids[0], xids[2])
	assert.Equal(t, []string{"lead of A"}, names, "the unit is scoped to the request's tenant by row level security")
}

func testUnitRefusesWhatIsNotItsRequest(t *testing.T, begin ...sqlscope.UnitsOption) {
	f := newRLSFixture(t)
	f.insertLead(t, f.ctxB, "lead of B")
	us, aud := f.units(t, begin...)
	var kept *sqlscope.Unit
	var keptCtx context.Context
	code := serve(us, f.a, func(w http.ResponseWriter, r *http.Request) {
		u, _ := sqlscope.UnitFromContext(r.Context())
		kept, keptCtx = u, r.Context()
		var n int
		t.Run("a statement under another tenant's context is refused and audited", func(t *testing.T) {
			err := u.QueryRowContext(f.ctxB, `SELECT count(*) FROM leads`).Scan(&n)
			assert.ErrorIs(t, err, sqlscope.ErrUnitTenant)
			_, err = u.ExecContext(f.ctxB, `DELETE FROM leads`)
			assert.ErrorIs(t, err, sqlscope.ErrUnitTenant)
			_, err = u.QueryContext(f.ctxB, `SELECT name FROM leads`)
			assert.ErrorIs(t, err, sqlscope.ErrUnitTenant)
			assert.Equal(t, []tenant.EventKind{tenant.EventCrossTenant, tenant.EventCrossTenant, tenant.EventCrossTenant}, aud.kinds())
		})
		t.Run("a statement without a tenant is refused", func(t *testing.T) {
			err := u.QueryRowContext(context.Background(), `SELECT count(*) FROM leads`).Scan(&n)
			assert.ErrorIs(t, err, tenant.ErrNoTenant)
			err = u.QueryRowContext(tenant.NewContext(context.Background(), tenant.Tenant{ID: ""}), `SELECT 1`).Scan(&n)
			assert.ErrorIs(t, err, tenant.ErrNoTenant)
		})
		t.Run("the tenant's own statement still works and sees none of B's rows", func(t *testing.T) {
			require.NoError(t, u.QueryRowContext(r.Context(), `SELECT count(*) FROM leads`).Scan(&n))
			assert.Zero(t, n)
		})
		w.WriteHeader(http.StatusOK)
		t.Run("a statement after the status is sent is refused", func(t *testing.T) {
			err := u.QueryRowContext(r.Context(), `SELECT count(*) FROM leads`).Scan(&n)
			assert.ErrorIs(t, err, sqlscope.ErrUnitEnded)
		})
	})
	assert.Equal(t, http.StatusOK, code)
	t.Run("a unit kept after its request is refused", func(t *testing.T) {
		_, err := kept.ExecContext(keptCtx, `DELETE FROM leads`)
		assert.ErrorIs(t, err, sqlscope.ErrUnitEnded)
	})
	t.Run("a request without a tenant gets a unit that refuses every statement", func(t *testing.T) {
		rec := httptest.NewRecorder()
		var err error
		us.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			u, _ := sqlscope.UnitFromContext(r.Context())
			_, err = u.ExecContext(f.ctxA, `DELETE FROM leads`)
		})).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		assert.ErrorIs(t, err, tenant.ErrNoTenant)
	})
	assert.Equal(t, 1, f.leadCount(t, "lead of B"), "nothing was deleted")
}

func testUnitCommitsBeforeTheStatusAndRollsBackOnFailure(t *testing.T, begin ...sqlscope.UnitsOption) {
	f := newRLSFixture(t)
	// A deferred unique constraint fails at COMMIT, not at the INSERT.
	_, err := f.admin.Exec(`ALTER TABLE leads ADD CONSTRAINT leads_name_once UNIQUE (tenant_id, name) DEFERRABLE INITIALLY DEFERRED`)
	require.NoError(t, err)
	us, _ := f.units(t, begin...)
	insert := func(r *http.Request, name string) {
		u, _ := sqlscope.UnitFromContext(r.Context())
		_, err := u.ExecContext(r.Context(), `INSERT INTO leads (name) VALUES ($1)`, name)
		require.NoError(t, err)
	}
	t.Run("a 201 is sent only after the write is committed", func(t *testing.T) {
		var visible int
		rec := httptest.NewRecorder()
		spy := statusSpy{ResponseWriter: rec, onStatus: func() {
			require.NoError(t, f.admin.QueryRow(`SELECT count(*) FROM leads WHERE name = 'committed'`).Scan(&visible))
		}}
		withTenant(f.a, us.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			insert(r, "committed")
			w.WriteHeader(http.StatusCreated)
		}))).ServeHTTP(spy, httptest.NewRequest("POST", "/", nil))
		assert.Equal(t, http.StatusCreated, rec.Code)
		assert.Equal(t, 1, visible, "the row was committed when the status went out")
	})
	t.Run("a write that fails to commit is answered 500, never 2xx, and its body is dropped", func(t *testing.T) {
		rec := httptest.NewRecorder()
		var writeErr error
		withTenant(f.a, us.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			insert(r, "twice")
			insert(r, "twice")
			w.Header().Set("Content-Type", "application/json")
			_, writeErr = w.Write([]byte(`{"ok":true}`))
		}))).ServeHTTP(rec, httptest.NewRequest("POST", "/", nil))
		assert.Equal(t, http.StatusInternalServerError, rec.Code)
		assert.NotContains(t, rec.Body.String(), "ok")
		assert.NotEqual(t, "application/json", rec.Header().Get("Content-Type"))
		assert.ErrorIs(t, writeErr, sqlscope.ErrUnitEnded)
		assert.Zero(t, f.leadCount(t, "twice"))
	})
	t.Run("a handler that writes nothing is committed before the implicit 200", func(t *testing.T) {
		assert.Equal(t, http.StatusOK, serve(us, f.a, func(w http.ResponseWriter, r *http.Request) { insert(r, "silent") }))
		assert.Equal(t, 1, f.leadCount(t, "silent"))
	})
	t.Run("a handler that writes nothing and fails to commit is answered 500", func(t *testing.T) {
		assert.Equal(t, http.StatusInternalServerError, serve(us, f.a, func(w http.ResponseWriter, r *http.Request) {
			insert(r, "silent twice")
			insert(r, "silent twice")
		}))
		assert.Zero(t, f.leadCount(t, "silent twice"))
	})
	t.Run("an error status rolls back", func(t *testing.T) {
		assert.Equal(t, http.StatusConflict, serve(us, f.a, func(w http.ResponseWriter, r *http.Request) {
			insert(r, "conflict")
			http.Error(w, "conflict", http.StatusConflict)
		}))
		assert.Zero(t, f.leadCount(t, "conflict"))
	})
	t.Run("a panic rolls back", func(t *testing.T) {
		assert.Equal(t, -1, serve(us, f.a, func(w http.ResponseWriter, r *http.Request) {
			insert(r, "panic")
			panic("handler failed")
		}))
		assert.Zero(t, f.leadCount(t, "panic"))
		assert.Zero(t, f.app.Stats().InUse, "the transaction ended and gave its connection back")
	})
	t.Run("an informational status decides nothing", func(t *testing.T) {
		// A real server: the recorder keeps a 1xx as the final status.
		srv := httptest.NewServer(withTenant(f.a, us.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			insert(r, "hints twice")
			w.WriteHeader(http.StatusEarlyHints)
			insert(r, "hints twice")
			w.WriteHeader(http.StatusOK)
		}))))
		defer srv.Close()
		res, err := srv.Client().Post(srv.URL, "text/plain", nil)
		require.NoError(t, err)
		res.Body.Close()
		assert.Equal(t, http.StatusInternalServerError, res.StatusCode)
		assert.Zero(t, f.leadCount(t, "hints twice"))
	})
}

// statusSpy calls onStatus when the status reaches it.
type statusSpy struct {
	http.ResponseWriter
	onStatus func()
}

func (s statusSpy) WriteHeader(code int) { s.onStatus(); s.ResponseWriter.WriteHeader(code) }

func testUnitSettingDoesNotOutliveTheUnit(t *testing.T, begin ...sqlscope.UnitsOption) {
	f := newRLSFixture(t)
	f.app.SetMaxOpenConns(1) // every statement below runs on the unit's connection
	us, _ := f.units(t, begin...)
	for _, c := range []struct {
		name string
		fn   func(ctx context.Context) error
	}{
		{name: "committed", fn: func(context.Context) error { return nil }},
		{name: "rolled back by an error", fn: func(context.Context) error { return errors.New("fail") }},
		{name: "after a failed statement", fn: func(ctx context.Context) error {
			u, _ := sqlscope.UnitFromContext(ctx)
			_, err := u.ExecContext(ctx, `SELECT 1/0`)
			return err
		}},
	} {
		t.Run("a unit "+c.name+" leaves no tenant on the connection", func(t *testing.T) {
			var inside string
			_ = us.Run(f.ctxA, func(ctx context.Context) error {
				u, _ := sqlscope.UnitFromContext(ctx)
				require.NoError(t, u.QueryRowContext(ctx, `SELECT current_setting('tenantwall.tenant_id')`).Scan(&inside))
				return c.fn(ctx)
			})
			assert.Equal(t, f.a.ID, inside)
			var after sql.NullString
			require.NoError(t, f.app.QueryRow(`SELECT nullif(current_setting('tenantwall.tenant_id', true), '')`).Scan(&after))
			assert.False(t, after.Valid, "an unscoped statement on the same connection sees no tenant, got %q", after.String)
		})
	}
}

func TestUnitOnSQLiteWithTheRowFilter(t *testing.T) {
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "u.db")+"?_txlock=immediate&_pragma=busy_timeout(5000)")
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	_, err = db.Exec(`CREATE TABLE leads (id INTEGER PRIMARY KEY, tenant_id TEXT NOT NULL, name TEXT NOT NULL)`)
	require.NoError(t, err)
	filter, err := sqlscope.NewFilter(db, sqlscope.SQLite)
	require.NoError(t, err)
	us, err := sqlscope.NewUnits(db, sqlscope.WithUnitAuditor(discard{}))
	require.NoError(t, err)
	a, b := tenanttest.NewTenant("acme"), tenanttest.NewTenant("globex")
	ctxA, ctxB := tenant.NewContext(context.Background(), a), tenant.NewContext(context.Background(), b)
	for i, ctx := range []context.Context{ctxA, ctxB, ctxA} {
		require.NoError(t, us.Run(ctx, func(ctx context.Context) error {
			u, _ := sqlscope.UnitFromContext(ctx)
			_, err := filter.On(u).Insert(ctx, "leads", []string{"name"}, "lead "+string(rune('0'+i)))
			return err
		}))
	}
	count := func(ctx context.Context) (n int) {
		require.NoError(t, us.Run(ctx, func(ctx context.Context) error {
			u, _ := sqlscope.UnitFromContext(ctx)
			return filter.On(u).QueryRow(ctx, `SELECT count(*) FROM leads WHERE tenant_id = {tenant}`).Scan(&n)
		}))
		return n
	}
	for range 3 {
		assert.Equal(t, 2, count(ctxA))
		assert.Equal(t, 1, count(ctxB))
	}
	t.Run("statements are prepared once and reused by later units", func(t *testing.T) {
		assert.Equal(t, 2, sqlscope.PreparedStatements(us), "the insert and the count")
	})
	t.Run("an error rolls back", func(t *testing.T) {
		err := us.Run(ctxA, func(ctx context.Context) error {
			u, _ := sqlscope.UnitFromContext(ctx)
			if _, err := filter.On(u).Insert(ctx, "leads", []string{"name"}, "gone"); err != nil {
				return err
			}
			return errors.New("fail")
		})
		require.Error(t, err)
		assert.Equal(t, 2, count(ctxA))
	})
	t.Run("the unit of one tenant refuses the other's context", func(t *testing.T) {
		err := us.Run(ctxA, func(ctx context.Context) error {
			u, _ := sqlscope.UnitFromContext(ctx)
			var n int
			return filter.On(u).QueryRow(ctxB, `SELECT count(*) FROM leads WHERE tenant_id = {tenant}`).Scan(&n)
		})
		assert.ErrorIs(t, err, sqlscope.ErrUnitTenant)
	})
}

func TestUnitStatementCacheIsBounded(t *testing.T) {
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "b.db")+"?_pragma=busy_timeout(5000)")
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	ctx := tenant.NewContext(context.Background(), tenanttest.NewTenant("acme"))
	for _, c := range []struct {
		max, want int
	}{{max: 0, want: 0}, {max: 2, want: 2}, {max: 10, want: 4}} {
		t.Run(fmt.Sprintf("WithStatements(%d) keeps %d of 4 statements", c.max, c.want), func(t *testing.T) {
			us, err := sqlscope.NewUnits(db, sqlscope.WithStatements(c.max))
			require.NoError(t, err)
			for range 2 {
				require.NoError(t, us.Run(ctx, func(ctx context.Context) error {
					u, _ := sqlscope.UnitFromContext(ctx)
					for i := range 4 {
						var n int
						if err := u.QueryRowContext(ctx, fmt.Sprintf(`SELECT %d`, i)).Scan(&n); err != nil {
							return err
						}
					}
					return nil
				}))
			}
			assert.Equal(t, c.want, sqlscope.PreparedStatements(us))
		})
	}
}

func TestNewUnitsRefusesBadOptions(t *testing.T) {
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "o.db"))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	for _, c := range []struct {
		name string
		db   *sql.DB
		opts []sqlscope.UnitsOption
	}{
		{name: "a nil db"},
		{name: "a nil RLS", db: db, opts: []sqlscope.UnitsOption{sqlscope.WithRLS(nil)}},
		{name: "a negative statement count", db: db, opts: []sqlscope.UnitsOption{sqlscope.WithStatements(-1)}},
		{name: "a nil end handler", db: db, opts: []sqlscope.UnitsOption{sqlscope.WithEndErrorHandler(nil)}},
		{name: "a nil ConnBeginner", db: db, opts: []sqlscope.UnitsOption{sqlscope.WithConnBeginner(nil)}},
		{name: "a ConnBeginner without WithRLS", db: db, opts: []sqlscope.UnitsOption{sqlscope.WithConnBeginner(pgxscope.Stdlib{})}},
	} {
		t.Run(c.name+" is refused", func(t *testing.T) {
			_, err := sqlscope.NewUnits(c.db, c.opts...)
			assert.Error(t, err)
		})
	}
}

func testUnitOnCommitRunsOnlyForKeptWrites(t *testing.T, begin ...sqlscope.UnitsOption) {
	f := newRLSFixture(t)
	_, err := f.admin.Exec(`ALTER TABLE leads ADD CONSTRAINT leads_name_once UNIQUE (tenant_id, name) DEFERRABLE INITIALLY DEFERRED`)
	require.NoError(t, err)
	us, _ := f.units(t, begin...)
	for _, c := range []struct {
		name  string
		write []string
		fail  error
		want  bool
	}{
		{name: "a committed unit runs it", write: []string{"kept"}, want: true},
		{name: "a unit without statements runs it", want: true},
		{name: "a rolled back unit does not", write: []string{"dropped"}, fail: errors.New("fail")},
		{name: "a unit that fails to commit does not", write: []string{"dup", "dup"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ran := false
			_ = us.Run(f.ctxA, func(ctx context.Context) error {
				u, _ := sqlscope.UnitFromContext(ctx)
				for _, name := range c.write {
					if _, err := u.ExecContext(ctx, `INSERT INTO leads (name) VALUES ($1)`, name); err != nil {
						return err
					}
				}
				require.NoError(t, u.OnCommit(func() { ran = true }))
				return c.fail
			})
			assert.Equal(t, c.want, ran)
		})
	}
	t.Run("an ended unit refuses it", func(t *testing.T) {
		var kept *sqlscope.Unit
		require.NoError(t, us.Run(f.ctxA, func(ctx context.Context) error { kept, _ = sqlscope.UnitFromContext(ctx); return nil }))
		assert.ErrorIs(t, kept.OnCommit(func() {}), sqlscope.ErrUnitEnded)
	})
}

// TestUnitOnPostgres runs the PostgreSQL tests of units whose transaction
// database/sql begins (BEGIN, then set_config) and of units begun by
// pgxscope.Stdlib (both in one round trip).
func TestUnitOnPostgres(t *testing.T) {
	for _, b := range []struct {
		name string
		opts []sqlscope.UnitsOption
	}{
		{name: "database/sql"},
		{name: "pgxscope.Stdlib", opts: []sqlscope.UnitsOption{sqlscope.WithConnBeginner(pgxscope.Stdlib{})}},
	} {
		t.Run(b.name, func(t *testing.T) {
			for _, c := range []struct {
				name string
				fn   func(*testing.T, ...sqlscope.UnitsOption)
			}{
				{"shares one transaction per request", testUnitSharesOneTransactionPerRequest},
				{"refuses what is not its request", testUnitRefusesWhatIsNotItsRequest},
				{"commits before the status and rolls back on failure", testUnitCommitsBeforeTheStatusAndRollsBackOnFailure},
				{"setting does not outlive the unit", testUnitSettingDoesNotOutliveTheUnit},
				{"on commit runs only for kept writes", testUnitOnCommitRunsOnlyForKeptWrites},
				{"a COMMIT that PostgreSQL answers with ROLLBACK is an error", testUnitFailedTransactionDoesNotCommit},
			} {
				t.Run(c.name, func(t *testing.T) { c.fn(t, b.opts...) })
			}
		})
	}
}

func testUnitFailedTransactionDoesNotCommit(t *testing.T, begin ...sqlscope.UnitsOption) {
	f := newRLSFixture(t)
	us, _ := f.units(t, begin...)
	ran := false
	err := us.Run(f.ctxA, func(ctx context.Context) error {
		u, _ := sqlscope.UnitFromContext(ctx)
		_, err := u.ExecContext(ctx, `INSERT INTO leads (name) VALUES ('lost')`)
		require.NoError(t, err)
		_, err = u.ExecContext(ctx, `SELECT 1/0`)
		require.Error(t, err)
		require.NoError(t, u.OnCommit(func() { ran = true }))
		return nil // the handler ignores the failure
	})
	assert.Error(t, err)
	assert.False(t, ran)
	assert.Zero(t, f.leadCount(t, "lost"))
}

func TestNewUnitsRefusesAnotherHandleThanTheRLSOne(t *testing.T) {
	f := newRLSFixture(t)
	_, err := sqlscope.NewUnits(f.admin, sqlscope.WithRLS(f.rls))
	assert.Error(t, err, "the owner's handle is not the one whose role NewRLS checked")
}

func TestWithoutUnitRemovesTheUnit(t *testing.T) {
	db, err := sql.Open("sqlite", ":memory:")
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	us, err := sqlscope.NewUnits(db)
	require.NoError(t, err)
	ctx := tenant.NewContext(context.Background(), tenanttest.NewTenant("acme"))
	require.NoError(t, us.Run(ctx, func(ctx context.Context) error {
		_, ok := sqlscope.UnitFromContext(ctx)
		assert.True(t, ok, "Run puts its unit in the context")
		_, ok = sqlscope.UnitFromContext(sqlscope.WithoutUnit(ctx))
		assert.False(t, ok, "WithoutUnit takes it out")
		return nil
	}))
}
