package session_test

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/internal/testenv"
	"github.com/tenantwall/tenantwall/session"
	"github.com/tenantwall/tenantwall/tenant"
	"github.com/tenantwall/tenantwall/tenant/tenanttest"
)

// app is a tiny tenant-aware server: the host picks the tenant (as
// resolve would), /login logs in, /me answers who is logged in.
type app struct {
	m     *session.Manager
	audit *tenanttest.AuditRecorder
	now   time.Time
	mu    sync.Mutex
	hosts map[string]tenant.Tenant
}

func newApp(t *testing.T, store session.Store, opts ...session.Option) *app {
	a := &app{audit: &tenanttest.AuditRecorder{}, now: time.Now(), hosts: map[string]tenant.Tenant{
		"acme.example.com": tenanttest.NewTenant("acme"), "globex.example.com": tenanttest.NewTenant("globex")}}
	var err error
	a.m, err = session.New(store, append([]session.Option{session.WithAuditor(a.audit), session.WithClock(a.clock)}, opts...)...)
	require.NoError(t, err)
	return a
}

func (a *app) clock() time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.now
}

func (a *app) advance(d time.Duration) {
	a.mu.Lock()
	a.now = a.now.Add(d)
	a.mu.Unlock()
}

func (a *app) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		if _, err := a.m.Login(w, r, r.URL.Query().Get("user"), nil); err != nil {
			http.Error(w, err.Error(), 500)
		}
	})
	mux.HandleFunc("/renew", func(w http.ResponseWriter, r *http.Request) {
		if _, err := a.m.Renew(w, r); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
		}
	})
	mux.HandleFunc("/logout", func(w http.ResponseWriter, r *http.Request) { _ = a.m.Logout(w, r) })
	mux.HandleFunc("/me", func(w http.ResponseWriter, r *http.Request) {
		if s, ok := session.FromContext(r.Context()); ok {
			io.WriteString(w, s.UserID)
			return
		}
		http.Error(w, "anonymous", http.StatusUnauthorized)
	})
	inner := a.m.Middleware(mux)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := strings.Cut(r.Host, ":")
		if t, ok := a.hosts[host]; ok {
			r = r.WithContext(tenant.NewContext(r.Context(), t))
		}
		inner.ServeHTTP(w, r)
	})
}

func call(h http.Handler, host, path string, cookies ...*http.Cookie) *httptest.ResponseRecorder {
	req := httptest.NewRequest("GET", "http://"+host+path, nil)
	for _, c := range cookies {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func sessionCookie(t *testing.T, rec *httptest.ResponseRecorder) *http.Cookie {
	t.Helper()
	cs := rec.Result().Cookies()
	require.Len(t, cs, 1, "one Set-Cookie")
	return cs[0]
}

func TestCookieAttacks(t *testing.T) {
	a := newApp(t, session.NewMemStore())
	h := a.handler()
	login := call(h, "acme.example.com", "/login?user=alice")
	require.Equal(t, http.StatusOK, login.Code)
	c := sessionCookie(t, login)

	t.Run("the cookie policy", func(t *testing.T) {
		assert.Empty(t, c.Domain, "a Domain attribute would share the cookie with every subdomain")
		assert.NotContains(t, login.Header().Get("Set-Cookie"), "Domain=")
		assert.True(t, c.HttpOnly)
		assert.Equal(t, http.SameSiteLaxMode, c.SameSite)
		assert.Equal(t, "/", c.Path)
		assert.Len(t, c.Value, 43, "256 random bits")
	})
	t.Run("the session works on its tenant", func(t *testing.T) {
		rec := call(h, "acme.example.com", "/me", c)
		assert.Equal(t, "alice", rec.Body.String())
	})
	t.Run("cross-tenant replay is treated as absent and audited", func(t *testing.T) {
		before := a.audit.Count(tenant.EventCrossTenant)
		rec := call(h, "globex.example.com", "/me", c)
		assert.Equal(t, http.StatusUnauthorized, rec.Code)
		assert.Equal(t, before+1, a.audit.Count(tenant.EventCrossTenant))
		assert.Equal(t, "alice", call(h, "acme.example.com", "/me", c).Body.String(), "the replay must not destroy the owner's session")
	})
	t.Run("fixation: a token held before login is worthless after it", func(t *testing.T) {
		planted := sessionCookie(t, call(h, "acme.example.com", "/login?user=mallory"))
		rec := call(h, "acme.example.com", "/login?user=victim", planted)
		fresh := sessionCookie(t, rec)
		assert.NotEqual(t, planted.Value, fresh.Value)
		assert.Equal(t, http.StatusUnauthorized, call(h, "acme.example.com", "/me", planted).Code)
		assert.Equal(t, "victim", call(h, "acme.example.com", "/me", fresh).Body.String())
	})
	t.Run("renewal on privilege change replaces the token", func(t *testing.T) {
		c := sessionCookie(t, call(h, "acme.example.com", "/login?user=bob"))
		rec := call(h, "acme.example.com", "/renew", c)
		n := sessionCookie(t, rec)
		assert.NotEqual(t, c.Value, n.Value)
		assert.Equal(t, http.StatusUnauthorized, call(h, "acme.example.com", "/me", c).Code)
		assert.Equal(t, "bob", call(h, "acme.example.com", "/me", n).Body.String())
	})
	t.Run("cookie tossing: several session cookies are refused", func(t *testing.T) {
		tossed := &http.Cookie{Name: c.Name, Value: strings.Repeat("A", 43)}
		rec := call(h, "acme.example.com", "/me", tossed, c)
		assert.Equal(t, http.StatusBadRequest, rec.Code)
	})
	t.Run("malformed tokens are anonymous", func(t *testing.T) {
		for _, v := range []string{"", "short", strings.Repeat("!", 43), strings.Repeat("A", 44), c.Value + "x"} {
			rec := call(h, "acme.example.com", "/me", &http.Cookie{Name: c.Name, Value: v})
			assert.Equal(t, http.StatusUnauthorized, rec.Code, v)
		}
	})
	t.Run("no tenant, no session", func(t *testing.T) {
		assert.Equal(t, http.StatusUnauthorized, call(h, "unknown.example.com", "/me", c).Code)
	})
	t.Run("logout ends the session and clears the cookie", func(t *testing.T) {
		c := sessionCookie(t, call(h, "acme.example.com", "/login?user=carol"))
		rec := call(h, "acme.example.com", "/logout", c)
		cleared := sessionCookie(t, rec)
		assert.True(t, cleared.MaxAge < 0)
		assert.Equal(t, http.StatusUnauthorized, call(h, "acme.example.com", "/me", c).Code)
	})
}

func TestHostPrefixOverTLS(t *testing.T) {
	a := newApp(t, session.NewMemStore())
	srv := httptest.NewTLSServer(a.handler())
	defer srv.Close()
	client := srv.Client()
	client.Transport.(*http.Transport).TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	req, _ := http.NewRequest("GET", srv.URL+"/login?user=alice", nil)
	req.Host = "acme.example.com"
	res, err := client.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	raw := res.Header.Get("Set-Cookie")
	assert.True(t, strings.HasPrefix(raw, "__Host-session="), raw)
	assert.Contains(t, raw, "Secure")
	assert.Contains(t, raw, "Path=/")
	assert.NotContains(t, raw, "Domain")

	// Behind a TLS proxy, forced on.
	m, err := session.New(session.NewMemStore(), session.WithSecure(true), session.WithCookieName("crm"))
	require.NoError(t, err)
	rec := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "http://acme.example.com/", nil)
	r = r.WithContext(tenant.NewContext(r.Context(), tenanttest.NewTenant("acme")))
	_, err = m.Login(rec, r, "u", nil)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(rec.Header().Get("Set-Cookie"), "__Host-crm="))
}

func TestTimeouts(t *testing.T) {
	a := newApp(t, session.NewMemStore(), session.WithTimeouts(10*time.Minute, time.Hour))
	h := a.handler()
	c := sessionCookie(t, call(h, "acme.example.com", "/login?user=alice"))
	for range 5 { // keep it busy past the idle timeout
		a.advance(8 * time.Minute)
		require.Equal(t, "alice", call(h, "acme.example.com", "/me", c).Body.String())
	}
	a.advance(25 * time.Minute) // 65 minutes after login
	assert.Equal(t, http.StatusUnauthorized, call(h, "acme.example.com", "/me", c).Code, "the absolute lifetime passed")

	c = sessionCookie(t, call(h, "acme.example.com", "/login?user=bob"))
	a.advance(11 * time.Minute)
	assert.Equal(t, http.StatusUnauthorized, call(h, "acme.example.com", "/me", c).Code, "the idle timeout passed")
}

func TestDestroyUserAndTenant(t *testing.T) {
	store := session.NewMemStore()
	a := newApp(t, store)
	h := a.handler()
	c1 := sessionCookie(t, call(h, "acme.example.com", "/login?user=alice"))
	c2 := sessionCookie(t, call(h, "acme.example.com", "/login?user=alice"))
	c3 := sessionCookie(t, call(h, "acme.example.com", "/login?user=bob"))
	cg := sessionCookie(t, call(h, "globex.example.com", "/login?user=alice"))
	acme := a.hosts["acme.example.com"]
	require.NoError(t, a.m.DestroyUser(tenant.NewContext(context.Background(), acme), "alice"))
	assert.Equal(t, 401, call(h, "acme.example.com", "/me", c1).Code)
	assert.Equal(t, 401, call(h, "acme.example.com", "/me", c2).Code)
	assert.Equal(t, 200, call(h, "acme.example.com", "/me", c3).Code)
	assert.Equal(t, 200, call(h, "globex.example.com", "/me", cg).Code, "globex's alice is another user")

	assert.ErrorIs(t, a.m.DestroyTenant(context.Background(), acme.ID), tenant.ErrNoTenant)
	ctx, _ := tenant.WithPlatformScope(context.Background(), "tenant deleted")
	require.NoError(t, a.m.DestroyTenant(ctx, acme.ID))
	assert.Equal(t, 401, call(h, "acme.example.com", "/me", c3).Code)
	assert.Equal(t, 200, call(h, "globex.example.com", "/me", cg).Code)
	assert.ErrorIs(t, a.m.DestroyUser(context.Background(), "alice"), tenant.ErrNoTenant)
}

func TestStoreDownIs503(t *testing.T) {
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	defer dead.Close()
	store, err := session.NewRedisStore(dead, "")
	require.NoError(t, err)
	a := newApp(t, store)
	rec := call(a.handler(), "acme.example.com", "/me", &http.Cookie{Name: "session", Value: strings.Repeat("A", 43)})
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code, "never an anonymous session when the store is down")
	rec = call(a.handler(), "acme.example.com", "/me")
	assert.Equal(t, http.StatusUnauthorized, rec.Code, "without a cookie the store is not needed")
}

func TestOptionsAreValidated(t *testing.T) {
	cases := []struct {
		name   string
		option string // what the error must name
		store  session.Store
		opts   []session.Option
	}{
		{"a nil store is refused", "nil store", nil, nil},
		{"an empty cookie name is refused", "WithCookieName", session.NewMemStore(), []session.Option{session.WithCookieName("")}},
		{"a cookie name with a separator is refused", "WithCookieName", session.NewMemStore(), []session.Option{session.WithCookieName("a;b")}},
		{"a zero idle timeout is refused", "WithTimeouts", session.NewMemStore(), []session.Option{session.WithTimeouts(0, time.Hour)}},
		{"a lifetime shorter than the idle timeout is refused", "WithTimeouts", session.NewMemStore(), []session.Option{session.WithTimeouts(time.Hour, time.Minute)}},
		{"a nil clock is refused", "WithClock", session.NewMemStore(), []session.Option{session.WithClock(nil)}},
		{"a nil deny handler is refused", "WithDenyHandler", session.NewMemStore(), []session.Option{session.WithDenyHandler(nil)}},
		{"a nil error handler is refused", "WithErrorHandler", session.NewMemStore(), []session.Option{session.WithErrorHandler(nil)}},
		{"a trusted origin with a path is refused", "WithTrustedOrigins", session.NewMemStore(), []session.Option{session.WithTrustedOrigins("https://acme.test/x")}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := session.New(c.store, c.opts...)
			require.ErrorIs(t, err, session.ErrConfig)
			assert.Contains(t, err.Error(), c.option, "the error names what is wrong")
		})
	}
}

// TestSessionSurvivesABriefStoreOutage takes a real Redis away behind a
// proxy and brings it back: the requests in between get the error handler
// (503), never an anonymous answer or a cleared cookie, and the same
// cookie works again afterwards.
func TestSessionSurvivesABriefStoreOutage(t *testing.T) {
	real := testenv.Redis(t)
	proxy := testenv.NewProxy(t, real.Options().Addr)
	rdb := redis.NewClient(&redis.Options{Addr: proxy.Addr(), DB: real.Options().DB, MaxRetries: -1,
		DialTimeout: 500 * time.Millisecond, ReadTimeout: 500 * time.Millisecond})
	t.Cleanup(func() { rdb.Close() })
	store, err := session.NewRedisStore(rdb, testenv.Name("sess"))
	require.NoError(t, err)
	failed := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `{"error":"service unavailable"}`)
	})
	a := newApp(t, store, session.WithErrorHandler(failed))
	h := a.handler()
	c := sessionCookie(t, call(h, "acme.example.com", "/login?user=alice"))
	require.Equal(t, "alice", call(h, "acme.example.com", "/me", c).Body.String())

	proxy.Down()
	for _, path := range []string{"/me", "/logout", "/renew"} {
		t.Run("a request to "+path+" while the store is down gets the error handler", func(t *testing.T) {
			rec := call(h, "acme.example.com", path, c)
			assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
			assert.Equal(t, "7", rec.Header().Get("Retry-After"))
			assert.JSONEq(t, `{"error":"service unavailable"}`, rec.Body.String())
			assert.Empty(t, rec.Result().Cookies(), "the cookie is neither cleared nor replaced")
		})
	}
	t.Run("a login while the store is down fails with ErrStore", func(t *testing.T) {
		req := httptest.NewRequest("POST", "http://acme.example.com/login", nil)
		req = req.WithContext(tenant.NewContext(req.Context(), a.hosts["acme.example.com"]))
		rec := httptest.NewRecorder()
		_, err := a.m.Login(rec, req, "bob", nil)
		require.ErrorIs(t, err, session.ErrStore)
		assert.Empty(t, rec.Result().Cookies(), "no cookie for a session that was never stored")
		assert.ErrorIs(t, a.m.DestroyUser(req.Context(), "alice"), session.ErrStore)
	})

	proxy.Up(t)
	t.Run("the same cookie works once the store is back", func(t *testing.T) {
		rec := call(h, "acme.example.com", "/me", c)
		assert.Equal(t, http.StatusOK, rec.Code)
		assert.Equal(t, "alice", rec.Body.String())
	})
}
