package session_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/tenantwall/tenantwall/session"
	"github.com/tenantwall/tenantwall/tenant"
)

func Example() {
	m, _ := session.New(session.NewMemStore())
	acme := tenant.Tenant{ID: "3f0c9a52-6a7e-4c4e-9a35-2d1f0e8b7c61", Slug: "acme"}
	globex := tenant.Tenant{ID: "5e2d8c77-1b0a-4f6e-9c3d-7a8b9c0d1e02", Slug: "globex"}

	// Log in on acme.
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "https://acme.example.com/login", nil)
	req = req.WithContext(tenant.NewContext(req.Context(), acme))
	_, _ = m.Login(rec, req, "alice", nil)
	cookie := rec.Result().Cookies()[0]
	fmt.Println(cookie.Name, cookie.Domain == "", cookie.Secure, cookie.HttpOnly)

	whoami := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := session.FromContext(r.Context())
		fmt.Println(ok && s.UserID == "alice")
	}))
	for _, t := range []tenant.Tenant{acme, globex} {
		r := httptest.NewRequest("GET", "https://"+t.Slug+".example.com/me", nil)
		r.AddCookie(cookie)
		whoami.ServeHTTP(httptest.NewRecorder(), r.WithContext(tenant.NewContext(r.Context(), t)))
	}
	// Output:
	// __Host-session true true true
	// true
	// false
}

// A write from a page of a sibling tenant is refused before the session
// cookie is read, and a write after Renew lands under the new token only.
func ExampleManager_Middleware_crossOrigin() {
	m, _ := session.New(session.NewMemStore(), session.WithSecure(false))
	acme := tenant.Tenant{ID: "3f0c9a52-6a7e-4c4e-9a35-2d1f0e8b7c61", Slug: "acme"}
	onAcme := func(r *http.Request) *http.Request { return r.WithContext(tenant.NewContext(r.Context(), acme)) }

	rec := httptest.NewRecorder()
	_, _ = m.Login(rec, onAcme(httptest.NewRequest("POST", "http://acme.example.com/login", nil)), "alice", nil)
	cookie := rec.Result().Cookies()[0]

	var renewed *http.Cookie
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = m.Renew(w, r)
		_ = m.Set(r, "role", "admin")
		s, _ := session.FromContext(r.Context())
		fmt.Println("renewed; role", s.Values["role"])
	}))
	for _, site := range []string{"same-site", "same-origin"} {
		r := onAcme(httptest.NewRequest("POST", "http://acme.example.com/promote", nil))
		r.Header.Set("Sec-Fetch-Site", site) // "same-site": a page on globex.example.com
		r.AddCookie(cookie)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		fmt.Println(site, rec.Code)
		if rec.Code == http.StatusOK {
			renewed = rec.Result().Cookies()[0]
		}
	}

	whoami := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := session.FromContext(r.Context())
		fmt.Println(ok && s.Values["role"] == "admin")
	}))
	for _, c := range []*http.Cookie{cookie, renewed} {
		r := onAcme(httptest.NewRequest("GET", "http://acme.example.com/me", nil))
		r.AddCookie(c)
		whoami.ServeHTTP(httptest.NewRecorder(), r)
	}
	// Output:
	// same-site 403
	// renewed; role admin
	// same-origin 200
	// false
	// true
}
