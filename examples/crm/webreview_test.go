package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Findings of the hostile review of the web pages (issue 18), each a test
// that failed before its fix. TestBrowser shows the same in Chromium.

// Tenant subdomains are same-site, so a sibling tenant's page that embeds
// one of acme's URLs (<img>, <video>, <script>, <iframe>) makes the
// browser send acme's SameSite=Lax cookie along. Every answer on a
// tenant's host says Cross-Origin-Resource-Policy: same-origin and
// X-Frame-Options: DENY, so that the browser hands none of them to
// another origin's page, nor shows one in its frames.
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
		assert.Equal(t, "DENY", h.Get("X-Frame-Options"), "%s in a frame", path)
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

// auditLog is the server's log, kept to read its audit records.
type auditLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *auditLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// crossTenant returns the resources of the cross-tenant records logged
// since mark, and the new mark.
func (l *auditLog) crossTenant(t *testing.T, mark int) ([]string, int) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(l.buf.Bytes()[mark:]))
	for sc.Scan() {
		var rec map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &rec))
		if rec["audit"] == "cross_tenant" {
			out = append(out, fmt.Sprintf("%v: %v", rec["package"], rec["resource"]))
		}
	}
	return out, l.buf.Len()
}

// auditedServer is newServer in SQLite mode with its log kept.
func auditedServer(t *testing.T) (*server, *auditLog) {
	t.Helper()
	cfg, _, err := parseFlags("crm", []string{"-data", t.TempDir(), "-bcrypt-cost", "4"}, io.Discard)
	require.NoError(t, err)
	logs := &auditLog{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	a, err := newApp(context.Background(), cfg, log)
	require.NoError(t, err)
	t.Cleanup(a.close)
	ts := httptest.NewUnstartedServer(nil)
	ts.Config = newHTTPServer(cfg, a.routes(), log)
	ts.Start()
	t.Cleanup(ts.Close)
	return &server{Server: ts, app: a}, logs
}

// Another tenant's row under a page route, or a file under its download
// route, is not found exactly like a missing one, and the attempt is
// audited as cross-tenant, naming the row.
func TestPagesAnswerAnotherTenantsIDsNotFoundAndAudited(t *testing.T) {
	s, logs := auditedServer(t)
	acme := s.client(t, "acme.localhost").login("admin@acme.test")
	ids := map[string]string{}
	for path, body := range map[string]map[string]any{
		"leads": {"name": "Acme secret lead"}, "tasks": {"title": "Acme secret task"}, "notifications": {"message": "Acme secret"},
	} {
		code, item := acme.json("POST", "/api/"+path+"/", body)
		require.Equal(t, http.StatusCreated, code, "%v", item)
		ids[path] = fmt.Sprint(item["id"])
	}
	png := "\x89PNG\r\n\x1a\n" + strings.Repeat("\x00", 32)
	code, ap := upload(t, acme, "/api/applicants/", "photo", "me.png", "image/png", png, map[string]string{"name": "Jane Applicant"})
	require.Equal(t, http.StatusCreated, code, "%v", ap)
	code, doc := upload(t, acme, "/api/documents/", "file", "plan.txt", "text/plain", "acme secret", nil)
	require.Equal(t, http.StatusCreated, code, "%v", doc)
	ids["applicants"], ids["documents"] = fmt.Sprint(ap["id"]), fmt.Sprint(doc["id"])

	globex := s.client(t, "globex.localhost").signInPage("admin@globex.test")
	_, mark := logs.crossTenant(t, 0)
	for _, tc := range []struct {
		name, method, path string
		form               url.Values
		audit              string
	}{
		{"the lead page", "GET", "/leads/" + ids["leads"] + "/", nil, "crm: lead " + ids["leads"]},
		{"a lead's update", "POST", "/leads/" + ids["leads"] + "/", url.Values{"status": {"lost"}}, "crm: lead " + ids["leads"]},
		{"a lead's refused update", "POST", "/leads/" + ids["leads"] + "/", url.Values{"name": {" "}}, "crm: lead " + ids["leads"]},
		{"a lead's deletion", "POST", "/leads/" + ids["leads"] + "/delete/", url.Values{}, "crm: lead " + ids["leads"]},
		{"a task's update", "POST", "/tasks/" + ids["tasks"] + "/", url.Values{"done": {"true"}}, "crm: task " + ids["tasks"]},
		{"a task's deletion", "POST", "/tasks/" + ids["tasks"] + "/delete/", url.Values{}, "crm: task " + ids["tasks"]},
		{"a notification marked read", "POST", "/notifications/" + ids["notifications"] + "/", url.Values{"read": {"true"}}, "crm: notification " + ids["notifications"]},
		{"a notification's deletion", "POST", "/notifications/" + ids["notifications"] + "/delete/", url.Values{}, "crm: notification " + ids["notifications"]},
		{"a document's download", "GET", "/api/documents/" + ids["documents"] + "/download/", nil, "blobstore: documents " + ids["documents"]},
		{"an applicant's photo", "GET", "/api/applicants/" + ids["applicants"] + "/photo/", nil, "blobstore: applicants " + ids["applicants"]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var code int
			var body string
			if tc.method == "GET" {
				code, body, _ = globex.page(tc.path)
			} else {
				code, body, _ = globex.form(tc.path, tc.form)
			}
			assert.Equal(t, http.StatusNotFound, code)
			assert.NotContains(t, body, "Acme")
			var got []string
			got, mark = logs.crossTenant(t, mark)
			assert.Equal(t, []string{tc.audit}, got)
		})
	}
	// Nothing of acme's changed.
	for path, id := range map[string]string{"leads": ids["leads"], "tasks": ids["tasks"], "notifications": ids["notifications"]} {
		code, item := acme.json("GET", "/api/"+path+"/"+id+"/", nil)
		assert.Equal(t, http.StatusOK, code, path)
		assert.NotEqual(t, "lost", item["status"])
		assert.NotEqual(t, true, item["done"])
		assert.NotEqual(t, true, item["read"])
	}
}

// No GET changes anything (sign-out and deletions are form posts, under
// the cross-origin check), and no redirect of the tenant side leaves the
// tenant's origin, whatever the path or query asks for.
func TestPagesGetChangesNothingAndRedirectsStayHome(t *testing.T) {
	s := newServer(t, "sqlite")
	acme := s.client(t, "acme.localhost").signInPage("admin@acme.test")
	items, err := s.app.list(tenantCtx(t, "acme"), resources["leads"])
	require.NoError(t, err)
	require.NotEmpty(t, items)
	id := fmt.Sprint(items[0]["id"])
	for _, path := range []string{"/logout/", "/leads/" + id + "/delete/", "/leads/" + id + "/?status=lost", "/login/?email=x"} {
		code, _, _ := acme.page(path)
		assert.NotEqual(t, http.StatusInternalServerError, code, path)
	}
	after, err := s.app.list(tenantCtx(t, "acme"), resources["leads"])
	require.NoError(t, err)
	assert.Equal(t, items, after, "a GET changed acme's leads")
	code, _, _ := acme.page("/leads/")
	assert.Equal(t, http.StatusOK, code, "a GET of /logout/ signed nobody out")

	anon := s.client(t, "acme.localhost")
	for _, path := range []string{"//evil.example/", "/%2F%2Fevil.example/", "/%5Cevil.example/", "/static//evil.example/x", "/static/index.html",
		"/leads/..//evil.example/", "/leads?next=//evil.example/", "/login/?next=https://evil.example/", "/leads/" + id + "/?return=//evil.example/"} {
		for _, c := range []*client{acme, anon} {
			code, _, h := c.page(path)
			loc := h.Get("Location")
			if code/100 != 3 {
				continue
			}
			u, err := url.Parse(loc)
			require.NoError(t, err, loc)
			assert.True(t, u.Host == "" && u.Scheme == "" && !strings.HasPrefix(loc, "//") && !strings.HasPrefix(loc, `/\`),
				"%s redirects to %q", path, loc)
		}
	}
}
