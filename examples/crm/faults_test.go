package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/internal/testenv"
)

// viaProxy rewrites a service URL to reach it through p.
func viaProxy(t *testing.T, raw string, p *testenv.Proxy) string {
	t.Helper()
	u, err := url.Parse(raw)
	require.NoError(t, err)
	u.Host = p.Addr()
	return u.String()
}

// newPostgresBehindProxy starts the CRM in PostgreSQL mode with both of its
// database handles (application role and owner) reaching the real server
// through a proxy the test can take down: PostgreSQL "stops" for this
// server only, and its data survives.
func newPostgresBehindProxy(t *testing.T, extra ...string) (*server, *testenv.Proxy) {
	t.Helper()
	adminURL, admin := testenv.PostgresDB(t)
	role, roleURL := testenv.PostgresRole(t, admin, adminURL)
	_, err := admin.Exec(`ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ` + role +
		`; ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO ` + role)
	require.NoError(t, err)
	u, err := url.Parse(adminURL)
	require.NoError(t, err)
	proxy := testenv.NewProxy(t, u.Host)
	args := []string{"-data", t.TempDir(), "-operator-token", "op-secret", "-bcrypt-cost", "4",
		"-db", viaProxy(t, roleURL, proxy), "-db-admin", viaProxy(t, adminURL, proxy)}
	return startServer(t, append(args, extra...)), proxy
}

// assertUnavailable checks a truthful outage answer: 503, Retry-After, the
// API's JSON error, and no cookie cleared or replaced.
func assertUnavailable(t *testing.T, code int, body []byte, hdr http.Header, what string) {
	t.Helper()
	assert.Equal(t, http.StatusServiceUnavailable, code, "%s: %s", what, body)
	assert.Equal(t, "5", hdr.Get("Retry-After"), what)
	assert.JSONEq(t, `{"error":"service unavailable"}`, string(body), what)
	assert.Empty(t, hdr.Values("Set-Cookie"), "%s: the session cookie is kept", what)
	assert.Empty(t, hdr.Get("WWW-Authenticate"), "%s: no challenge: the credentials were not judged", what)
}

// eventually200 retries a request until it answers 200, as a client
// honouring Retry-After would, and fails on any answer but 200 or 503.
func eventually200(t *testing.T, c *client, method, path string) {
	t.Helper()
	for range 100 {
		code, body, _ := c.do(method, path, nil, "")
		if code == http.StatusOK {
			return
		}
		require.Equal(t, http.StatusServiceUnavailable, code, "%s %s while recovering: %s", method, path, body)
	}
	t.Fatalf("%s %s: still unavailable after the database came back", method, path)
}

func TestDatabaseOutageIsUnavailableNotUnauthenticated(t *testing.T) {
	s, proxy := newPostgresBehindProxy(t)
	bearer := s.client(t, "acme.localhost")
	code, tok := bearer.json("POST", "/api/auth/token/", map[string]string{"email": "admin@acme.test", "password": "demo"})
	require.Equal(t, http.StatusOK, code)
	bearer.token = tok["access"].(string)
	cookie := s.client(t, "acme.localhost").login("admin@acme.test")
	for _, c := range []*client{bearer, cookie} {
		code, _, _ := c.do("GET", "/api/leads/", nil, "")
		require.Equal(t, http.StatusOK, code)
	}

	proxy.Down()
	for _, tc := range []struct {
		name   string
		c      *client
		method string
		path   string
		body   string
	}{
		{"who am I, with a valid token", bearer, "GET", "/api/auth/me/", ""},
		{"the leads, with a valid token", bearer, "GET", "/api/leads/", ""},
		{"one lead, with a valid token", bearer, "GET", "/api/leads/1/", ""},
		{"a new lead, with a valid token", bearer, "POST", "/api/leads/", `{"name":"during the outage"}`},
		{"the dashboard, with a valid token", bearer, "GET", "/api/dashboard/overview/", ""},
		{"the documents, with a valid token", bearer, "GET", "/api/documents/", ""},
		{"who am I, with a valid session", cookie, "GET", "/api/auth/me/", ""},
		{"the leads, with a valid session", cookie, "GET", "/api/leads/", ""},
		{"the tasks, with a valid session", cookie, "GET", "/api/tasks/", ""},
		{"the branding", bearer, "GET", "/api/tenant-branding/", ""},
		{"the branding of a tenant not yet looked up", s.client(t, "globex.localhost"), "GET", "/api/tenant-branding/", ""},
		{"a login with the right password", s.client(t, "acme.localhost"), "POST", "/api/auth/login/", `{"email":"admin@acme.test","password":"demo"}`},
		{"a token with the right password", s.client(t, "acme.localhost"), "POST", "/api/auth/token/", `{"email":"admin@acme.test","password":"demo"}`},
	} {
		t.Run(tc.name+" while PostgreSQL is down answers 503", func(t *testing.T) {
			var body *strings.Reader
			ctype := ""
			if tc.body != "" {
				body, ctype = strings.NewReader(tc.body), "application/json"
			}
			var code int
			var b []byte
			var hdr http.Header
			if body != nil {
				code, b, hdr = tc.c.do(tc.method, tc.path, body, ctype)
			} else {
				code, b, hdr = tc.c.do(tc.method, tc.path, nil, "")
			}
			assertUnavailable(t, code, b, hdr, tc.method+" "+tc.path)
		})
	}
	t.Run("the operator API while PostgreSQL is down answers 503", func(t *testing.T) {
		op := s.client(t, "platform.localhost")
		op.token = "op-secret"
		code, b, hdr := op.do("GET", "/admin/api/tenants/", nil, "")
		assertUnavailable(t, code, b, hdr, "GET /admin/api/tenants/")
	})
	t.Run("readiness says unavailable with Retry-After", func(t *testing.T) {
		code, _, hdr := bearer.do("GET", "/readyz", nil, "")
		assert.Equal(t, http.StatusServiceUnavailable, code)
		assert.Equal(t, "5", hdr.Get("Retry-After"))
	})
	t.Run("a wrong token while PostgreSQL is down is still 401", func(t *testing.T) {
		forged := s.client(t, "acme.localhost")
		forged.token = bearer.token[:len(bearer.token)-4] + "AAAA"
		code, _, _ := forged.do("GET", "/api/leads/", nil, "")
		assert.Equal(t, http.StatusUnauthorized, code)
	})

	proxy.Up(t)
	t.Run("the same token and session work once PostgreSQL is back", func(t *testing.T) {
		eventually200(t, bearer, "GET", "/api/auth/me/")
		eventually200(t, bearer, "GET", "/api/leads/")
		eventually200(t, cookie, "GET", "/api/auth/me/")
		eventually200(t, cookie, "GET", "/api/tenant-branding/")
	})
}

func TestADeletedUserIsStillUnauthenticated(t *testing.T) {
	modes(t, func(t *testing.T, s *server) {
		c := s.client(t, "acme.localhost")
		code, tok := c.json("POST", "/api/auth/token/", map[string]string{"email": "admin@acme.test", "password": "demo"})
		require.Equal(t, http.StatusOK, code)
		c.token = tok["access"].(string)
		_, err := s.app.data.admin.Exec(s.app.data.q(`DELETE FROM users WHERE email = ?`), "admin@acme.test")
		require.NoError(t, err)
		code, _, hdr := c.do("GET", "/api/auth/me/", nil, "")
		assert.Equal(t, http.StatusUnauthorized, code, "no such user is a wrong credential")
		assert.Empty(t, hdr.Get("Retry-After"))
	})
}

func TestSessionStoreOutageKeepsTheSession(t *testing.T) {
	real := testenv.Redis(t)
	proxy := testenv.NewProxy(t, real.Options().Addr)
	s := newServer(t, "sqlite", "-redis", viaProxy(t, testenv.RedisURL(), proxy))
	cookie := s.client(t, "acme.localhost").login("admin@acme.test")
	bearer := s.client(t, "acme.localhost")
	code, tok := bearer.json("POST", "/api/auth/token/", map[string]string{"email": "admin@acme.test", "password": "demo"})
	require.Equal(t, http.StatusOK, code)
	bearer.token = tok["access"].(string)

	proxy.Down()
	for _, tc := range []struct{ method, path, body string }{
		{"GET", "/api/auth/me/", ""},
		{"GET", "/api/leads/", ""},
		{"POST", "/api/auth/logout/", ""},
	} {
		t.Run(tc.method+" "+tc.path+" with a session while Redis is down answers 503 and keeps the cookie", func(t *testing.T) {
			code, b, hdr := cookie.do(tc.method, tc.path, nil, "")
			assertUnavailable(t, code, b, hdr, tc.method+" "+tc.path)
		})
	}
	t.Run("a login while Redis is down answers 503", func(t *testing.T) {
		c := s.client(t, "acme.localhost")
		code, b, hdr := c.do("POST", "/api/auth/login/", strings.NewReader(`{"email":"admin@acme.test","password":"demo"}`), "application/json")
		assertUnavailable(t, code, b, hdr, "POST /api/auth/login/")
	})
	t.Run("a bearer request does not need the session store and the cache degrades to the database", func(t *testing.T) {
		code, _, _ := bearer.do("GET", "/api/dashboard/overview/", nil, "")
		assert.Equal(t, http.StatusOK, code)
	})

	proxy.Up(t)
	t.Run("the same session works once Redis is back", func(t *testing.T) {
		eventually200(t, cookie, "GET", "/api/auth/me/")
	})
}

func TestOperatorCreatedTenantReportsItsCreationTime(t *testing.T) {
	modes(t, func(t *testing.T, s *server) {
		op := s.client(t, "platform.localhost")
		op.token = "op-secret"
		before := time.Now().UTC().Add(-time.Second)
		code, created := op.json("POST", "/admin/api/tenants/", map[string]string{"slug": "initech", "name": "Initech"})
		require.Equal(t, http.StatusCreated, code, "%v", created)
		at, err := time.Parse(time.RFC3339Nano, fmt.Sprint(created["created_at"]))
		require.NoError(t, err, "%v", created["created_at"])
		assert.False(t, at.Before(before), "created_at %v is the creation time, not the zero time", at)
		assert.False(t, at.After(time.Now().Add(time.Second)), "created_at %v is not in the future", at)

		code, list := op.json("GET", "/admin/api/tenants/", nil)
		require.Equal(t, http.StatusOK, code)
		var stored string
		for _, v := range list["results"].([]any) {
			if m := v.(map[string]any); m["slug"] == "initech" {
				stored = fmt.Sprint(m["created_at"])
			}
		}
		assert.Equal(t, created["created_at"], stored, "the answer carries the time that was stored")
	})
}

func TestSlowRequestsAreCutOff(t *testing.T) {
	s := newServer(t, "sqlite", "-read-timeout", "500ms", "-read-header-timeout", "300ms")
	addr := s.Listener.Addr().String()
	dial := func(t *testing.T) (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		// The test's own bound: far below the two minutes of before.
		require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
		return c, bufio.NewReader(c)
	}
	for _, tc := range []struct {
		name, path, ctype string
	}{
		{"a login body", "/api/auth/login/", "application/json"},
		{"a lead body", "/api/leads/", "application/json"},
		{"a document upload", "/api/documents/", "multipart/form-data; boundary=x"},
		{"the sign-in page's form", "/login/", "application/x-www-form-urlencoded"},
	} {
		t.Run(tc.name+" that stalls is answered 408 within the read timeout", func(t *testing.T) {
			c, r := dial(t)
			start := time.Now()
			_, err := fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: acme.localhost\r\nContent-Type: %s\r\nContent-Length: 100000\r\n\r\n{\"na", tc.path, tc.ctype)
			require.NoError(t, err)
			res, err := http.ReadResponse(r, nil)
			if tc.path != "/api/auth/login/" && err == nil && res.StatusCode == http.StatusUnauthorized {
				// Unauthenticated: refused before the body was read,
				// which is as good as cutting it off.
				return
			}
			require.NoError(t, err)
			defer res.Body.Close()
			assert.Equal(t, http.StatusRequestTimeout, res.StatusCode)
			assert.Less(t, time.Since(start), 5*time.Second)
		})
	}
	t.Run("an authenticated upload that stalls is answered 408", func(t *testing.T) {
		api := s.client(t, "acme.localhost")
		code, tok := api.json("POST", "/api/auth/token/", map[string]string{"email": "admin@acme.test", "password": "demo"})
		require.Equal(t, http.StatusOK, code)
		for _, path := range []string{"/api/leads/", "/api/documents/"} {
			c, r := dial(t)
			start := time.Now()
			ctype, partial := "application/json", `{"name":"trick`
			if path == "/api/documents/" {
				ctype = "multipart/form-data; boundary=x"
				partial = "--x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nabc"
			}
			_, err := fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: acme.localhost\r\nAuthorization: Bearer %s\r\nContent-Type: %s\r\nContent-Length: 100000\r\n\r\n%s",
				path, tok["access"], ctype, partial)
			require.NoError(t, err)
			res, err := http.ReadResponse(r, nil)
			require.NoError(t, err, path)
			res.Body.Close()
			assert.Equal(t, http.StatusRequestTimeout, res.StatusCode, path)
			assert.Less(t, time.Since(start), 5*time.Second, path)
		}
	})
	t.Run("headers that stall are cut off within the header timeout", func(t *testing.T) {
		c, r := dial(t)
		start := time.Now()
		_, err := fmt.Fprintf(c, "GET /api/tenant-branding/ HTTP/1.1\r\nHost: acme.loc")
		require.NoError(t, err)
		_, err = r.ReadByte()
		for err == nil {
			_, err = r.ReadByte() // whatever the server says, it then closes
		}
		var ne net.Error
		require.False(t, errors.As(err, &ne) && ne.Timeout(), "the server closed the connection before the test's deadline: %v", err)
		assert.Less(t, time.Since(start), 5*time.Second)
	})
}

// TestBoundedPoolsHoldAt128Clients runs 128 concurrent clients against
// the CRM in PostgreSQL mode with its default pool sizes: no answer is an
// error, and the application role never holds more backends than the
// pool's maximum.
func TestBoundedPoolsHoldAt128Clients(t *testing.T) {
	s := newServer(t, "postgres")
	var role string
	require.NoError(t, s.app.data.db.QueryRow(`SELECT current_user`).Scan(&role))
	maxOpen := s.app.cfg.pools.dbMaxOpen
	require.Equal(t, 32, maxOpen, "the default")
	monitor, err := sql.Open("pgx", testenv.PostgresURL())
	require.NoError(t, err)
	monitor.SetMaxOpenConns(1)
	t.Cleanup(func() { monitor.Close() })

	tokens := map[string]string{}
	for _, slug := range []string{"acme", "globex"} {
		c := s.client(t, slug+".localhost")
		code, tok := c.json("POST", "/api/auth/token/", map[string]string{"email": "admin@" + slug + ".test", "password": "demo"})
		require.Equal(t, http.StatusOK, code)
		tokens[slug] = tok["access"].(string)
	}

	ctx, stop := context.WithCancel(context.Background())
	peak := 0
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			var n int
			if err := monitor.QueryRow(`SELECT count(*) FROM pg_stat_activity WHERE usename = $1`, role).Scan(&n); err == nil {
				peak = max(peak, n)
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()

	const clients, rounds = 128, 8
	codes := make(chan int, clients*rounds*2)
	var wg sync.WaitGroup
	tr := &http.Transport{MaxIdleConnsPerHost: clients}
	t.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	for i := range clients {
		slug := []string{"acme", "globex"}[i%2]
		wg.Go(func() {
			for r := range rounds {
				method, body := "GET", ""
				if r%2 == 1 {
					method, body = "POST", fmt.Sprintf(`{"name":"client %d round %d"}`, i, r)
				}
				req, _ := http.NewRequest(method, s.URL+"/api/leads/", strings.NewReader(body))
				req.Host = slug + ".localhost"
				req.Header.Set("Authorization", "Bearer "+tokens[slug])
				req.Header.Set("Content-Type", "application/json")
				res, err := hc.Do(req)
				if err != nil {
					codes <- 0
					continue
				}
				var v any
				_ = json.NewDecoder(res.Body).Decode(&v)
				res.Body.Close()
				codes <- res.StatusCode
			}
		})
	}
	wg.Wait()
	stop()
	<-sampled
	close(codes)
	counts := map[int]int{}
	for c := range codes {
		counts[c]++
	}
	assert.Equal(t, map[int]int{http.StatusOK: clients * rounds / 2, http.StatusCreated: clients * rounds / 2}, counts,
		"every request answered: no 500, no 401, no 503 at the default sizes")
	assert.LessOrEqual(t, peak, maxOpen, "backends of the application role")
	assert.Positive(t, peak, "the sampler saw the pool at work")
}
