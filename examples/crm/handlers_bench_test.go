package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jackc/pgx/v5"

	"github.com/tenantwall/tenantwall/sqlscope"
)

// BenchmarkLeadsHandlers measures what tenancy costs in a real handler:
// the CRM's lead list and lead read, through its whole stack (request
// deadline, tenant resolution from the Host, session middleware, the
// request's unit of work, bearer-token validation with the verified-token
// cache, the user lookup and the scoped query — row filter, and row level
// security in PostgreSQL mode), against the same handlers without tenancy:
// the same request deadline, an Ed25519 bearer token verified by
// golang-jwt with a cache of verified tokens, the user lookup and the same
// SQL without the tenant condition on copies of the tenant's rows in
// tables without row level security, in one read-only transaction, with
// statements prepared once, and the same JSON.
//
// The two run interleaved request by request, in an order that alternates
// from one iteration to the next; each reports its median time per request
// (a stall of the shared machine lands in one sample, not in a mean) and
// the throughput ratio tenancy/plain is reported as "tenancy/plain".
func BenchmarkLeadsHandlers(b *testing.B) {
	for _, mode := range []string{"sqlite", "postgres"} {
		b.Run("db="+mode, func(b *testing.B) {
			h := newHandlerBench(b, mode)
			for _, route := range []struct{ name, path string }{
				{"list", "/api/leads/"},
				{"read", "/api/leads/" + h.leadID + "/"},
			} {
				b.Run("handler="+route.name, func(b *testing.B) { h.run(b, route.path) })
			}
		})
	}
}

type handlerBench struct {
	tenancy, plain           http.Handler
	tenancyToken, plainToken string
	leadID                   string
}

func newHandlerBench(b *testing.B, mode string) *handlerBench {
	s := newServer(b, mode)
	a := s.app
	h := &handlerBench{tenancy: a.routes()}
	ctx := context.Background()
	call := func(method, path, token, body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		r.Host = "acme.localhost"
		r.Header.Set("Content-Type", "application/json")
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		w := httptest.NewRecorder()
		h.tenancy.ServeHTTP(w, r)
		return w
	}
	w := call("POST", "/api/auth/token/", "", `{"email":"admin@acme.test","password":"demo"}`)
	if w.Code != http.StatusOK {
		b.Fatalf("token: %d %s", w.Code, w.Body)
	}
	h.tenancyToken = between(w.Body.String(), `"access":"`, `"`)
	for i := range 17 { // 20 leads with the 3 of the demo data
		if w := call("POST", "/api/leads/", h.tenancyToken, fmt.Sprintf(`{"name":"lead %d","email":"l%d@example.com"}`, i, i)); w.Code != http.StatusCreated {
			b.Fatalf("create: %d %s", w.Code, w.Body)
		}
	}
	w = call("POST", "/api/leads/", h.tenancyToken, `{"name":"the one read"}`)
	h.leadID = between(w.Body.String(), `"id":`, `,`)

	// The tenant's rows, copied into tables without tenancy.
	acme, err := a.tenants.BySlug(ctx, "acme")
	if err != nil {
		b.Fatal(err)
	}
	copySQL := []string{
		`CREATE TABLE plain_users AS SELECT id, email, name FROM users WHERE tenant_id = ?`,
		`CREATE TABLE plain_leads AS SELECT id, name, phone, email, status, created_at FROM leads WHERE tenant_id = ?`,
		`CREATE UNIQUE INDEX plain_users_id ON plain_users (id)`,
		`CREATE UNIQUE INDEX plain_leads_id ON plain_leads (id)`,
	}
	if mode == "postgres" {
		cfg, err := pgx.ParseConfig(a.cfg.db)
		if err != nil {
			b.Fatal(err)
		}
		copySQL = append(copySQL, `GRANT SELECT ON plain_users, plain_leads TO `+cfg.User, `ANALYZE plain_users`, `ANALYZE plain_leads`)
	}
	tx, err := a.data.admin.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	if mode == "postgres" {
		// The owner is subject to row level security too (FORCE).
		if _, err := tx.ExecContext(ctx, `SELECT set_config('tenantwall.tenant_id', $1, true)`, acme.ID); err != nil {
			b.Fatal(err)
		}
	}
	for _, q := range copySQL {
		var args []any
		if strings.Contains(q, "?") {
			args = []any{acme.ID}
		}
		if _, err := tx.ExecContext(ctx, a.data.q(q), args...); err != nil {
			b.Fatal(q, err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	var uid int64
	if err := a.data.admin.QueryRowContext(ctx, `SELECT id FROM plain_users WHERE email = 'admin@acme.test'`).Scan(&uid); err != nil {
		b.Fatal(err)
	}
	plain, token, err := newPlainLeads(ctx, a.data.db, a.data.dialect, a.cfg.requestTimeout, uid)
	if err != nil {
		b.Fatal(err)
	}
	h.plain, h.plainToken = plain, token
	return h
}

// run measures path through both stacks, interleaved.
func (h *handlerBench) run(b *testing.B, path string) {
	type side struct {
		name    string
		handler http.Handler
		token   string
		samples []time.Duration
	}
	sides := []*side{{name: "tenancy", handler: h.tenancy, token: h.tenancyToken}, {name: "plain", handler: h.plain, token: h.plainToken}}
	var body [2]string
	serve := func(s *side) (int, string) {
		r := httptest.NewRequest("GET", path, nil)
		r.Host = "acme.localhost"
		r.Header.Set("Authorization", "Bearer "+s.token)
		w := httptest.NewRecorder()
		s.handler.ServeHTTP(w, r)
		return w.Code, w.Body.String()
	}
	for i, s := range sides {
		for range 20 { // warm caches and prepared statements
			code, out := serve(s)
			if code != http.StatusOK {
				b.Fatalf("%s: %d %s", s.name, code, out)
			}
			body[i] = out
		}
	}
	if body[0] != body[1] {
		b.Fatalf("the two stacks answer differently:\ntenancy: %s\nplain:   %s", body[0], body[1])
	}
	b.ReportAllocs()
	var i int
	for b.Loop() {
		for k := range sides {
			s := sides[(k+i)%len(sides)]
			t0 := time.Now()
			if code, out := serve(s); code != http.StatusOK {
				b.Fatalf("%s: %d %s", s.name, code, out)
			}
			s.samples = append(s.samples, time.Since(t0))
		}
		i++
	}
	med := map[string]float64{}
	for _, s := range sides {
		slices.Sort(s.samples)
		med[s.name] = float64(s.samples[len(s.samples)/2].Nanoseconds())
		b.ReportMetric(med[s.name], s.name+"-ns/op")
	}
	b.ReportMetric(med["plain"]/med["tenancy"], "tenancy/plain")
}

// newPlainLeads is the lead list and read without tenancy.
func newPlainLeads(ctx context.Context, db *sql.DB, d sqlscope.Dialect, timeout time.Duration, uid int64) (http.Handler, string, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, "", err
	}
	token, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.RegisteredClaims{
		Subject: strconv.FormatInt(uid, 10), ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour)),
	}).SignedString(priv)
	if err != nil {
		return nil, "", err
	}
	rs := resources["leads"]
	prepare := func(q string) (*sql.Stmt, error) { return db.PrepareContext(ctx, sqlscope.Rebind(d, q)) }
	userStmt, err := prepare(`SELECT id, email, name FROM plain_users WHERE id = ?`)
	if err != nil {
		return nil, "", err
	}
	cols := `SELECT id, ` + strings.Join(rs.columns(), ", ") + `, created_at FROM plain_leads`
	listStmt, err := prepare(cols + ` ORDER BY id`)
	if err != nil {
		return nil, "", err
	}
	readStmt, err := prepare(cols + ` WHERE id = ?`)
	if err != nil {
		return nil, "", err
	}
	type verified struct {
		subject string
		exp     time.Time
	}
	var mu sync.RWMutex
	cache := map[string]verified{}
	parser := jwt.NewParser(jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithExpirationRequired())
	authed := func(next func(w http.ResponseWriter, r *http.Request, tx *sql.Tx) (any, error)) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			tok, ok := bearerToken(r)
			if !ok {
				writeError(w, http.StatusUnauthorized, "unauthenticated")
				return
			}
			mu.RLock()
			v, hit := cache[tok]
			mu.RUnlock()
			if !hit || time.Now().After(v.exp) {
				var c jwt.RegisteredClaims
				if _, err := parser.ParseWithClaims(tok, &c, func(*jwt.Token) (any, error) { return pub, nil }); err != nil {
					writeError(w, http.StatusUnauthorized, "unauthenticated")
					return
				}
				v = verified{subject: c.Subject, exp: c.ExpiresAt.Time}
				mu.Lock()
				cache[tok] = v
				mu.Unlock()
			}
			id, err := strconv.ParseInt(v.subject, 10, 64)
			if err != nil {
				writeError(w, http.StatusUnauthorized, "unauthenticated")
				return
			}
			ctx := r.Context()
			tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
			if err != nil {
				writeError(w, http.StatusServiceUnavailable, "unavailable")
				return
			}
			defer tx.Rollback()
			var u user
			if err := tx.StmtContext(ctx, userStmt).QueryRowContext(ctx, id).Scan(&u.ID, &u.Email, &u.Name); err != nil {
				writeError(w, http.StatusUnauthorized, "unauthenticated")
				return
			}
			out, err := next(w, r.WithContext(context.WithValue(ctx, userKey{}, u)), tx)
			if err == nil {
				err = tx.Commit()
			}
			if err != nil {
				writeError(w, http.StatusInternalServerError, "internal error")
				return
			}
			writeJSON(w, http.StatusOK, out)
		})
	}
	mux := http.NewServeMux()
	mux.Handle("GET /api/leads/", authed(func(w http.ResponseWriter, r *http.Request, tx *sql.Tx) (any, error) {
		rows, err := tx.StmtContext(r.Context(), listStmt).QueryContext(r.Context())
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		items := []map[string]any{}
		for rows.Next() {
			item, err := rs.scan(rows)
			if err != nil {
				return nil, err
			}
			items = append(items, item)
		}
		return map[string]any{"results": items}, rows.Err()
	}))
	mux.Handle("GET /api/leads/{id}/", authed(func(w http.ResponseWriter, r *http.Request, tx *sql.Tx) (any, error) {
		id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
		if err != nil {
			return nil, err
		}
		return rs.scan(tx.StmtContext(r.Context(), readStmt).QueryRowContext(r.Context(), id))
	}))
	return withRequestLimits(timeout, mux), token, nil
}

// between returns the text of s after the first start, up to end.
func between(s, start, end string) string {
	_, after, _ := strings.Cut(s, start)
	v, _, _ := strings.Cut(after, end)
	return v
}
