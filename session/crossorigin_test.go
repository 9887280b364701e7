package session_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/session"
	"github.com/tenantwall/tenantwall/tenant"
)

// crossOriginApp serves, behind the session middleware: /login, /me, a
// cookie-authenticated write (/set), /logout, and /login-again, which
// logs in again (and so would delete the request's cookie session).
func crossOriginApp(t *testing.T, opts ...session.Option) (*app, http.Handler) {
	a := newApp(t, session.NewMemStore(), opts...)
	mux := http.NewServeMux()
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		if _, err := a.m.Login(w, r, r.URL.Query().Get("user"), nil); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	mux.HandleFunc("/me", func(w http.ResponseWriter, r *http.Request) {
		s, ok := session.FromContext(r.Context())
		if !ok {
			http.Error(w, "anonymous", http.StatusUnauthorized)
			return
		}
		io.WriteString(w, s.UserID+":"+s.Values["k"])
	})
	mux.HandleFunc("/set", func(w http.ResponseWriter, r *http.Request) {
		if err := a.m.Set(r, "k", r.URL.Query().Get("v")); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
		}
	})
	mux.HandleFunc("/logout", func(w http.ResponseWriter, r *http.Request) { _ = a.m.Logout(w, r) })
	return a, withTenantOf(a, a.m.Middleware(mux))
}

func send(h http.Handler, method, path string, header http.Header, c *http.Cookie) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "http://acme.example.com"+path, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	if c != nil {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func TestCrossOriginWritesAreRefused(t *testing.T) {
	refused := []struct {
		name   string
		header http.Header
	}{
		{"a sibling tenant's page (Sec-Fetch-Site same-site)", hdr("Sec-Fetch-Site", "same-site", "Origin", "http://globex.example.com")},
		{"another site (Sec-Fetch-Site cross-site)", hdr("Sec-Fetch-Site", "cross-site", "Origin", "https://evil.test")},
		{"Sec-Fetch-Site same-site without Origin", hdr("Sec-Fetch-Site", "same-site")},
		{"an unknown Sec-Fetch-Site value", hdr("Sec-Fetch-Site", "same-origin-ish")},
		{"an old browser on a sibling tenant (Origin only)", hdr("Origin", "http://globex.example.com")},
		{"an old browser with a look-alike origin", hdr("Origin", "http://acme.example.com.evil.test")},
		{"an old browser with the same host on another port", hdr("Origin", "http://acme.example.com:8443")},
		{"an opaque origin", hdr("Origin", "null")},
		{"Basic credentials, which a browser replays by itself", hdr("Sec-Fetch-Site", "same-site", "Authorization", "Basic YTpi")},
		{"an empty bearer token", hdr("Sec-Fetch-Site", "same-site", "Authorization", "Bearer ")},
		{"two Authorization headers", hdr("Sec-Fetch-Site", "same-site", "Authorization", "Basic YTpi", "Authorization", "Bearer x")},
	}
	methods := []string{"POST", "PUT", "PATCH", "DELETE", "PROPFIND", "get"}
	a, h := crossOriginApp(t)
	c := sessionCookie(t, call(h, "acme.example.com", "/login?user=alice"))
	require.Equal(t, http.StatusOK, send(h, "POST", "/set?v=original", nil, c).Code)

	for _, tc := range refused {
		for _, method := range methods {
			t.Run(method+" from "+tc.name+" is refused and changes nothing", func(t *testing.T) {
				before := a.audit.Count(tenant.EventCrossTenant)
				rec := send(h, method, "/set?v=forged", tc.header, c)
				assert.Equal(t, http.StatusForbidden, rec.Code)
				assert.Empty(t, rec.Result().Cookies(), "a refused request sets no cookie")
				assert.Equal(t, before+1, a.audit.Count(tenant.EventCrossTenant), "the refusal is audited")
				assert.Equal(t, http.StatusForbidden, send(h, method, "/logout", tc.header, c).Code)
				assert.Equal(t, "alice:original", send(h, "GET", "/me", nil, c).Body.String())
			})
		}
	}
	t.Run("a login from another origin is refused (login CSRF)", func(t *testing.T) {
		rec := send(h, "POST", "/login?user=mallory", hdr("Sec-Fetch-Site", "same-site"), nil)
		assert.Equal(t, http.StatusForbidden, rec.Code)
		assert.Empty(t, rec.Result().Cookies())
	})
}

func TestSameOriginAndBearerRequestsPass(t *testing.T) {
	a, h := crossOriginApp(t, session.WithTrustedOrigins("https://app.acme.test", "http://localhost:3000"))
	c := sessionCookie(t, call(h, "acme.example.com", "/login?user=alice"))
	allowed := []struct {
		name   string
		header http.Header
	}{
		{"a same-origin fetch", hdr("Sec-Fetch-Site", "same-origin", "Origin", "http://acme.example.com")},
		{"a user-initiated navigation", hdr("Sec-Fetch-Site", "none")},
		{"an old browser on the same origin", hdr("Origin", "http://acme.example.com")},
		{"a client that is not a browser", nil},
		{"a trusted origin", hdr("Sec-Fetch-Site", "cross-site", "Origin", "https://app.acme.test")},
		{"another trusted origin, old browser", hdr("Origin", "http://localhost:3000")},
	}
	for _, tc := range allowed {
		t.Run("a write from "+tc.name+" passes", func(t *testing.T) {
			rec := send(h, "POST", "/set?v="+url.QueryEscape(tc.name), tc.header, c)
			require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
			assert.Equal(t, "alice:"+tc.name, send(h, "GET", "/me", nil, c).Body.String())
		})
	}
	t.Run("a safe method from another origin passes", func(t *testing.T) {
		for _, method := range []string{"GET", "HEAD", "OPTIONS"} {
			assert.NotEqual(t, http.StatusForbidden, send(h, method, "/me", hdr("Sec-Fetch-Site", "same-site"), c).Code, method)
		}
	})
	t.Run("a trusted origin is matched exactly", func(t *testing.T) {
		for _, o := range []string{"https://app.acme.test:443", "https://APP.acme.test", "http://app.acme.test", "https://app.acme.test.evil.test"} {
			assert.Equal(t, http.StatusForbidden, send(h, "POST", "/set?v=x", hdr("Sec-Fetch-Site", "cross-site", "Origin", o), c).Code, o)
		}
	})
	t.Run("a bearer request from another origin goes on without the cookie session", func(t *testing.T) {
		before := a.audit.Count(tenant.EventCrossTenant)
		bearer := hdr("Sec-Fetch-Site", "same-site", "Origin", "http://globex.example.com", "Authorization", "Bearer abc.def.ghi")
		rec := send(h, "POST", "/set?v=via-cookie", bearer, c)
		assert.Equal(t, http.StatusUnauthorized, rec.Code, "the cookie must not authenticate a cross-origin request")
		assert.Equal(t, http.StatusUnauthorized, send(h, "POST", "/me", bearer, c).Code, "the request reaches the handler, without a session")
		assert.Equal(t, before, a.audit.Count(tenant.EventCrossTenant))
		// Login on such a request must not touch the cookie's session.
		require.Equal(t, http.StatusOK, send(h, "POST", "/login?user=bob", bearer, c).Code)
		assert.Equal(t, http.StatusOK, send(h, "GET", "/me", nil, c).Code, "the cookie's session survives")
	})
}

func TestCrossOriginOptionsAreValidated(t *testing.T) {
	bad := []string{
		"", "null", "*", "acme.test", "//acme.test", "ftp://acme.test", "https://", "https://acme.test/",
		"https://acme.test/path", "https://acme.test?x=1", "https://acme.test?", "https://acme.test#f",
		"HTTPS://acme.test", "https://Acme.test", "https://user@acme.test", "https://user:pw@acme.test",
		"https://acme.test:443", "http://acme.test:80", "https://acme.test:", "https://acme.test:0",
		"https://acme.test:08080", "https://acme.test:65536", "https://bücher.test", "https://*.acme.test",
		"https://acme.test ", " https://acme.test", "https://acme test",
	}
	for _, o := range bad {
		t.Run("the trusted origin "+o+" is refused", func(t *testing.T) {
			_, err := session.New(session.NewMemStore(), session.WithTrustedOrigins(o))
			assert.ErrorIs(t, err, session.ErrConfig)
		})
	}
	for _, o := range []string{"https://app.acme.test", "http://localhost:3000", "http://[::1]:8080", "https://xn--bcher-kva.test", "https://acme.test:8443"} {
		t.Run("the trusted origin "+o+" is accepted", func(t *testing.T) {
			_, err := session.New(session.NewMemStore(), session.WithTrustedOrigins(o))
			assert.NoError(t, err)
		})
	}
	t.Run("a nil deny handler is refused", func(t *testing.T) {
		_, err := session.New(session.NewMemStore(), session.WithDenyHandler(nil))
		assert.ErrorIs(t, err, session.ErrConfig)
	})
	t.Run("the deny handler answers refused requests", func(t *testing.T) {
		_, h := crossOriginApp(t, session.WithDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `{"error":"cross-origin"}`)
		})))
		rec := send(h, "POST", "/set", hdr("Sec-Fetch-Site", "cross-site"), nil)
		assert.Equal(t, http.StatusForbidden, rec.Code)
		assert.Equal(t, `{"error":"cross-origin"}`, rec.Body.String())
	})
}
