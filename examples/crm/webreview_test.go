package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Findings of the hostile review of the web pages (issue 18), each a test
// that failed before its fix. TestBrowser shows the same in Chromium.

// Tenant subdomains are same-site, so a sibling tenant's page that embeds
// one of acme's URLs (<img>, <video>, <script>) makes the browser send
// acme's SameSite=Lax cookie along. Every answer on a tenant's host says
// Cross-Origin-Resource-Policy: same-origin, so that the browser hands
// none of them to another origin's page.
func TestResponsesAreNotEmbeddableByAnotherOrigin(t *testing.T) {
	s := newServer(t, "sqlite")
	acme := s.client(t, "acme.localhost").login("admin@acme.test")
	png := "\x89PNG\r\n\x1a\n" + strings.Repeat("\x00", 32)
	code, ap := upload(t, acme, "/api/applicants/", "photo", "me.png", "image/png", png, map[string]string{"name": "Jane Applicant"})
	require.Equal(t, http.StatusCreated, code, "%v", ap)
	code, doc := upload(t, acme, "/api/documents/", "file", "chart.png", "image/png", png, nil)
	require.Equal(t, http.StatusCreated, code, "%v", doc)
	for _, path := range []string{
		fmt.Sprintf("/api/applicants/%v/photo/", ap["id"]),
		fmt.Sprintf("/api/documents/%v/download/", doc["id"]),
		"/api/leads/", "/api/auth/me/", "/", "/leads/", "/documents/", "/nowhere",
		"/static/app.css", "/static/app.js?v=" + assetVersion, "/theme.css",
	} {
		code, _, h := acme.roundTrip("GET", path, nil, nil)
		assert.Less(t, code, 500, path)
		assert.Equal(t, "same-origin", h.Get("Cross-Origin-Resource-Policy"), path)
	}
}

// A page of another origin that opens a tenant's page (window.open) would
// keep a handle on it: it could navigate the tenant's tab elsewhere,
// count its frames and time its loads. Every page says
// Cross-Origin-Opener-Policy: same-origin, which takes the handle away.
func TestPagesKeepNoOpenerFromAnotherOrigin(t *testing.T) {
	s := newServer(t, "sqlite")
	acme := s.client(t, "acme.localhost").signInPage("admin@acme.test")
	for _, path := range []string{"/", "/leads/", "/leads/1/", "/tasks/", "/notifications/", "/documents/", "/applicants/", "/nowhere"} {
		_, _, h := acme.page(path)
		assert.Equal(t, "same-origin", h.Get("Cross-Origin-Opener-Policy"), path)
	}
	_, _, h := s.client(t, "acme.localhost").page("/login/")
	assert.Equal(t, "same-origin", h.Get("Cross-Origin-Opener-Policy"), "the sign-in page")
}
