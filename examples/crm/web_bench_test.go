package main

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// BenchmarkPage measures a signed-in page through the whole handler
// chain (resolver, session, data access, template), in SQLite mode,
// without the network.
func BenchmarkPage(b *testing.B) {
	s := newServer(b, "sqlite")
	h := s.app.routes()
	login := httptest.NewRequest("POST", "/login/", strings.NewReader(url.Values{"email": {"admin@acme.test"}, "password": {"demo"}}.Encode()))
	login.Host = "acme.localhost"
	login.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, login)
	if rec.Code != http.StatusSeeOther || len(rec.Result().Cookies()) != 1 {
		b.Fatalf("sign-in: %d", rec.Code)
	}
	cookie := rec.Result().Cookies()[0]
	for name, path := range map[string]string{"leads": "/leads/", "dashboard": "/"} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r := httptest.NewRequest("GET", path, nil)
				r.Host = "acme.localhost"
				r.AddCookie(cookie)
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					b.Fatalf("%s: %d", path, w.Code)
				}
			}
		})
	}
}
