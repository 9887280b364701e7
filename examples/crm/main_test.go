package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/internal/testenv"
	"github.com/tenantwall/tenantwall/tenant"
)

// server is a CRM under test, with clients that address tenants by Host.
type server struct {
	*httptest.Server
	app *app
}

// newServer starts the CRM in SQLite mode (mode "sqlite") or PostgreSQL
// row-level-security mode (mode "postgres": a fresh database, migrated by
// its owner, served as an unprivileged role).
func newServer(t testing.TB, mode string, extra ...string) *server {
	t.Helper()
	dir := t.TempDir()
	// No plans: the demo tenants' rate limits would refuse these tests'
	// bursts; limits_test.go sets -plans itself (the last flag wins).
	args := []string{"-data", dir, "-operator-token", "op-secret", "-bcrypt-cost", "4", "-plans="}
	if mode == "postgres" {
		adminURL, admin := testenv.PostgresDB(t)
		role, roleURL := testenv.PostgresRole(t, admin, adminURL)
		// The owner migrates; grants let the application role use the
		// tables it creates.
		_, err := admin.Exec(`ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ` + role +
			`; ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO ` + role)
		require.NoError(t, err)
		args = append(args, "-db", roleURL, "-db-admin", adminURL)
	}
	return startServer(t, append(args, extra...))
}

// startServer runs the CRM with args, under the server's own net/http
// configuration (its timeouts included). Each of before is called with the
// app before the server takes its first request.
func startServer(t testing.TB, args []string, before ...func(*app)) *server {
	t.Helper()
	cfg, _, err := parseFlags("crm", args, io.Discard)
	require.NoError(t, err)
	var logw io.Writer = io.Discard
	if os.Getenv("CRM_TEST_LOG") == "1" {
		logw = os.Stderr // to see why a request failed
	}
	log := slog.New(slog.NewTextHandler(logw, nil))
	a, err := newApp(context.Background(), cfg, log)
	require.NoError(t, err)
	t.Cleanup(a.close)
	for _, f := range before {
		f(a)
	}
	ts := httptest.NewUnstartedServer(nil)
	ts.Config = newHTTPServer(cfg, a.routes(), log)
	ts.Start()
	s := &server{Server: ts, app: a}
	t.Cleanup(s.Close)
	return s
}

// client talks to one host of the server, keeping cookies.
type client struct {
	t     *testing.T
	s     *server
	host  string
	jar   http.CookieJar
	token string
}

func (s *server) client(t *testing.T, host string) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, s: s, host: host, jar: jar}
}

func (c *client) do(method, path string, body io.Reader, ctype string) (int, []byte, http.Header) {
	c.t.Helper()
	h := http.Header{}
	if ctype != "" {
		h.Set("Content-Type", ctype)
	}
	return c.roundTrip(method, path, body, h)
}

// roundTrip sends a request as the client (its host, token and cookies,
// plus the headers h) and returns the status, body and headers.
func (c *client) roundTrip(method, path string, body io.Reader, h http.Header) (int, []byte, http.Header) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.s.URL+path, body)
	require.NoError(c.t, err)
	req.Host = c.host
	for k, v := range h {
		req.Header[k] = v
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	u, _ := url.Parse("http://" + c.host + "/")
	for _, ck := range c.jar.Cookies(u) {
		req.AddCookie(ck)
	}
	res, err := c.s.Client().Do(req)
	require.NoError(c.t, err)
	defer res.Body.Close()
	c.jar.SetCookies(u, res.Cookies())
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b, res.Header
}

func (c *client) json(method, path string, in any) (int, map[string]any) {
	c.t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	code, b, _ := c.do(method, path, body, "application/json")
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return code, out
}

// waitOperation polls the operator API operation id through op until it
// is no longer running, requires that it is done and returns it. A failed
// operation fails the test at once, showing the operation.
func waitOperation(t *testing.T, op *client, id string) map[string]any {
	t.Helper()
	var j map[string]any
	finished := assert.EventuallyWithT(t, func(c *assert.CollectT) {
		code, b := op.json("GET", "/admin/api/operations/"+id+"/", nil)
		if assert.Equal(c, http.StatusOK, code, "%v", b) && assert.NotEqual(c, "running", b["status"], "%v", b) {
			j = b
		}
	}, 30*time.Second, 20*time.Millisecond, "operation %s", id)
	require.True(t, finished)
	require.Equal(t, "done", j["status"], "operation: %v", j)
	return j
}

func (c *client) login(email string) *client {
	c.t.Helper()
	code, body := c.json("POST", "/api/auth/login/", map[string]string{"email": email, "password": "demo"})
	require.Equal(c.t, http.StatusOK, code, "login %s: %v", email, body)
	return c
}

func modes(t *testing.T, fn func(t *testing.T, s *server)) {
	for _, mode := range []string{"sqlite", "postgres"} {
		t.Run(mode, func(t *testing.T) { fn(t, newServer(t, mode)) })
	}
}

func TestBranding(t *testing.T) {
	modes(t, func(t *testing.T, s *server) {
		acme := s.client(t, "acme.localhost:8080")
		code, b := acme.json("GET", "/api/tenant-branding/", nil)
		require.Equal(t, http.StatusOK, code)
		assert.Equal(t, map[string]any{
			"tenant_id": "0b4c1e9a-6f57-4a3e-8d8f-2f7c5a1d9e01", "slug": "acme", "company_name": "Acme Corporation",
			"custom_domain": "crm.acme.test", "logo_url": "https://static.acme.test/logo.png", "primary_color": "#d9480f",
		}, b)
		code, viaDomain := s.client(t, "crm.acme.test").json("GET", "/api/tenant-branding/", nil)
		require.Equal(t, http.StatusOK, code)
		assert.Equal(t, b, viaDomain)
		for _, host := range []string{"nobody.localhost", "localhost", "127.0.0.1:8080", "a.acme.localhost", "www.localhost"} {
			code, body := s.client(t, host).json("GET", "/api/tenant-branding/", nil)
			assert.Equal(t, http.StatusNotFound, code, host)
			assert.Equal(t, map[string]any{"error": "not found"}, body, host)
		}
	})
}

func TestLeadsIsolationAndErrors(t *testing.T) {
	modes(t, func(t *testing.T, s *server) {
		acme := s.client(t, "acme.localhost").login("admin@acme.test")
		globex := s.client(t, "globex.localhost").login("admin@globex.test")

		code, lead := acme.json("POST", "/api/leads/", map[string]any{"name": "Secret Lead", "phone": "555"})
		require.Equal(t, http.StatusCreated, code, "%v", lead)
		id := fmt.Sprint(lead["id"])
		assert.Equal(t, "new", lead["status"])
		for _, k := range []string{"id", "name", "phone", "email", "status", "created_at"} {
			assert.Contains(t, lead, k)
		}

		code, list := globex.json("GET", "/api/leads/", nil)
		require.Equal(t, http.StatusOK, code)
		assert.NotContains(t, fmt.Sprint(list["results"]), "Secret Lead")

		missing := func(c *client, method, path string, body any) {
			code, b := c.json(method, path, body)
			assert.Equal(t, http.StatusNotFound, code, "%s %s", method, path)
			assert.Equal(t, map[string]any{"error": "not found"}, b)
		}
		missing(globex, "GET", "/api/leads/"+id+"/", nil)
		missing(globex, "PATCH", "/api/leads/"+id+"/", map[string]any{"name": "pwned"})
		missing(globex, "DELETE", "/api/leads/"+id+"/", nil)
		missing(globex, "GET", "/api/leads/999999/", nil)
		missing(globex, "GET", "/api/leads/abc/", nil)
		code, again := acme.json("GET", "/api/leads/"+id+"/", nil)
		require.Equal(t, http.StatusOK, code)
		assert.Equal(t, "Secret Lead", again["name"], "the item changed")

		code, b := acme.json("POST", "/api/leads/", map[string]any{"name": "x", "tenant_id": "5e2d8c77-1b0a-4f6e-9c3d-7a8b9c0d1e02"})
		assert.Equal(t, http.StatusBadRequest, code)
		assert.Contains(t, b["error"], "tenant_id")
		code, b = acme.json("POST", "/api/leads/", map[string]any{"phone": "1"})
		assert.Equal(t, http.StatusBadRequest, code)
		assert.Contains(t, b["error"], `"name"`)
		code, b = acme.json("PATCH", "/api/leads/"+id+"/", map[string]any{"status": "bogus"})
		assert.Equal(t, http.StatusBadRequest, code)
		assert.Contains(t, b["error"], `"status"`)
		code, _, _ = acme.do("POST", "/api/leads/", strings.NewReader("{not json"), "application/json")
		assert.Equal(t, http.StatusBadRequest, code)

		code, upd := acme.json("PATCH", "/api/leads/"+id+"/", map[string]any{"status": "won"})
		require.Equal(t, http.StatusOK, code)
		assert.Equal(t, "won", upd["status"])
		code, _ = acme.json("DELETE", "/api/leads/"+id+"/", nil)
		assert.Equal(t, http.StatusNoContent, code)

		anon := s.client(t, "acme.localhost")
		code, _ = anon.json("GET", "/api/leads/", nil)
		assert.Equal(t, http.StatusUnauthorized, code)
	})
}

func TestSessionsAndTokensAreBoundToTheirTenant(t *testing.T) {
	modes(t, func(t *testing.T, s *server) {
		acme := s.client(t, "acme.localhost").login("admin@acme.test")
		code, me := acme.json("GET", "/api/auth/me/", nil)
		require.Equal(t, http.StatusOK, code)
		assert.Equal(t, "admin@acme.test", me["email"])

		// Replay acme's session cookie on globex.
		u, _ := url.Parse("http://acme.localhost/")
		thief := s.client(t, "globex.localhost")
		thief.jar.SetCookies(&url.URL{Scheme: "http", Host: "globex.localhost", Path: "/"}, acme.jar.Cookies(u))
		code, _ = thief.json("GET", "/api/auth/me/", nil)
		assert.Equal(t, http.StatusUnauthorized, code)

		tok := s.client(t, "acme.localhost")
		code, pair := tok.json("POST", "/api/auth/token/", map[string]string{"email": "admin@acme.test", "password": "demo"})
		require.Equal(t, http.StatusOK, code)
		tok.token = pair["access"].(string)
		code, _ = tok.json("GET", "/api/leads/", nil)
		assert.Equal(t, http.StatusOK, code)
		onGlobex := s.client(t, "globex.localhost")
		onGlobex.token = tok.token
		code, _ = onGlobex.json("GET", "/api/leads/", nil)
		assert.Equal(t, http.StatusUnauthorized, code, "acme's token on globex")
		// The token is now in the server's verified-token cache: asked
		// again it still works on acme only, and a copy with a changed
		// signature is not taken for it.
		code, _ = tok.json("GET", "/api/leads/", nil)
		assert.Equal(t, http.StatusOK, code, "acme's token again")
		code, _ = onGlobex.json("GET", "/api/leads/", nil)
		assert.Equal(t, http.StatusUnauthorized, code, "acme's remembered token on globex")
		forged := s.client(t, "acme.localhost")
		forged.token = tok.token[:len(tok.token)-4] + "AAAA"
		code, _ = forged.json("GET", "/api/leads/", nil)
		assert.Equal(t, http.StatusUnauthorized, code, "a remembered token with another signature")

		code, fresh := tok.json("POST", "/api/auth/token/refresh/", map[string]string{"refresh": pair["refresh"].(string)})
		require.Equal(t, http.StatusOK, code)
		assert.NotEmpty(t, fresh["access"])
		code, _ = onGlobex.json("POST", "/api/auth/token/refresh/", map[string]string{"refresh": pair["refresh"].(string)})
		assert.Equal(t, http.StatusUnauthorized, code)

		code, _ = s.client(t, "acme.localhost").json("POST", "/api/auth/login/", map[string]string{"email": "admin@globex.test", "password": "demo"})
		assert.Equal(t, http.StatusUnauthorized, code, "globex's user on acme")
		code, _ = acme.json("POST", "/api/auth/logout/", nil)
		assert.Equal(t, http.StatusNoContent, code)
		code, _ = acme.json("GET", "/api/auth/me/", nil)
		assert.Equal(t, http.StatusUnauthorized, code)
	})
}

func upload(t *testing.T, c *client, path, field, name, ctype, body string, extra map[string]string) (int, map[string]any) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range extra {
		_ = mw.WriteField(k, v)
	}
	if field != "" {
		h := make(map[string][]string)
		h["Content-Disposition"] = []string{fmt.Sprintf(`form-data; name=%q; filename=%q`, field, name)}
		h["Content-Type"] = []string{ctype}
		w, _ := mw.CreatePart(h)
		io.WriteString(w, body)
	}
	mw.Close()
	code, b, _ := c.do("POST", path, &buf, mw.FormDataContentType())
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return code, out
}

func TestDocumentsAndApplicants(t *testing.T) {
	modes(t, func(t *testing.T, s *server) {
		acme := s.client(t, "acme.localhost").login("admin@acme.test")
		globex := s.client(t, "globex.localhost").login("admin@globex.test")
		code, doc := upload(t, acme, "/api/documents/", "file", "Q3 plan.pdf", "application/pdf", "%PDF-1.4 acme secret", nil)
		require.Equal(t, http.StatusCreated, code, "%v", doc)
		assert.Equal(t, "Q3 plan.pdf", doc["name"])
		assert.EqualValues(t, 20, doc["size"])
		id := fmt.Sprint(doc["id"])

		code, body, hdr := acme.do("GET", "/api/documents/"+id+"/download/", nil, "")
		require.Equal(t, http.StatusOK, code)
		assert.Equal(t, "%PDF-1.4 acme secret", string(body))
		assert.Contains(t, hdr.Get("Content-Disposition"), "attachment")
		assert.Equal(t, "nosniff", hdr.Get("X-Content-Type-Options"))

		code, body, _ = globex.do("GET", "/api/documents/"+id+"/download/", nil, "")
		assert.Equal(t, http.StatusNotFound, code)
		assert.NotContains(t, string(body), "secret")
		code, list := globex.json("GET", "/api/documents/", nil)
		require.Equal(t, http.StatusOK, code)
		assert.NotContains(t, fmt.Sprint(list), "Q3 plan")

		code, html := upload(t, acme, "/api/documents/", "file", "x.html", "text/html", "<script>alert(1)</script>", nil)
		require.Equal(t, http.StatusCreated, code)
		_, _, hdr = acme.do("GET", fmt.Sprintf("/api/documents/%v/download/", html["id"]), nil, "")
		assert.Equal(t, "application/octet-stream", hdr.Get("Content-Type"))
		code, b := upload(t, acme, "/api/documents/", "", "", "", "", map[string]string{"note": "x"})
		assert.Equal(t, http.StatusBadRequest, code)
		assert.Contains(t, b["error"], `"file"`)

		png := "\x89PNG\r\n\x1a\n" + strings.Repeat("\x00", 32)
		code, ap := upload(t, acme, "/api/applicants/", "photo", "me.png", "image/png", png, map[string]string{"name": "Jane Applicant"})
		require.Equal(t, http.StatusCreated, code, "%v", ap)
		assert.Equal(t, true, ap["has_photo"])
		code, body, _ = acme.do("GET", fmt.Sprintf("/api/applicants/%v/photo/", ap["id"]), nil, "")
		assert.Equal(t, http.StatusOK, code)
		assert.Equal(t, png, string(body))
		code, _, _ = globex.do("GET", fmt.Sprintf("/api/applicants/%v/photo/", ap["id"]), nil, "")
		assert.Equal(t, http.StatusNotFound, code)
		code, b = upload(t, acme, "/api/applicants/", "photo", "x.svg", "image/svg+xml", "<svg/>", map[string]string{"name": "X"})
		assert.Equal(t, http.StatusBadRequest, code)
		assert.Contains(t, b["error"], `"photo"`)
	})
}

func TestDashboardIsCachedPerTenantAndInvalidated(t *testing.T) {
	modes(t, func(t *testing.T, s *server) {
		acme := s.client(t, "acme.localhost").login("admin@acme.test")
		globex := s.client(t, "globex.localhost").login("admin@globex.test")
		_, a1 := acme.json("GET", "/api/dashboard/overview/?filter=all", nil)
		_, g1 := globex.json("GET", "/api/dashboard/overview/?filter=all", nil)
		assert.EqualValues(t, 3, a1["leads"])
		assert.EqualValues(t, 2, g1["leads"], "globex got acme's cached dashboard")
		code, _ := acme.json("POST", "/api/leads/", map[string]any{"name": "New"})
		require.Equal(t, http.StatusCreated, code)
		_, a2 := acme.json("GET", "/api/dashboard/overview/?filter=all", nil)
		_, g2 := globex.json("GET", "/api/dashboard/overview/?filter=all", nil)
		assert.EqualValues(t, 4, a2["leads"], "the change must invalidate acme's dashboard")
		assert.EqualValues(t, 2, g2["leads"])
		code, _ = acme.json("GET", "/api/dashboard/overview/?filter=%2A", nil)
		assert.Equal(t, http.StatusBadRequest, code)
	})
}

func TestNotificationsWebSocket(t *testing.T) {
	s := newServer(t, "sqlite")
	acme := s.client(t, "acme.localhost").login("admin@acme.test")
	globex := s.client(t, "globex.localhost").login("admin@globex.test")
	dial := func(c *client, origin string) (*websocket.Conn, *http.Response, error) {
		h := http.Header{}
		h.Set("Host", c.host)
		if origin != "" {
			h.Set("Origin", origin)
		}
		u, _ := url.Parse("http://" + c.host + "/")
		for _, ck := range c.jar.Cookies(u) {
			h.Add("Cookie", ck.Name+"="+ck.Value)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return websocket.Dial(ctx, "ws"+strings.TrimPrefix(s.URL, "http")+"/ws/notifications", &websocket.DialOptions{
			HTTPHeader: h, Host: c.host, HTTPClient: s.Client()})
	}
	ca, _, err := dial(acme, "http://acme.localhost")
	require.NoError(t, err)
	defer ca.CloseNow()
	cg, _, err := dial(globex, "http://globex.localhost")
	require.NoError(t, err)
	defer cg.CloseNow()

	_, res, err := dial(acme, "http://globex.localhost")
	require.Error(t, err, "a foreign Origin must be refused")
	if res != nil {
		assert.Equal(t, http.StatusForbidden, res.StatusCode)
	}
	_, res, err = dial(s.client(t, "acme.localhost"), "http://acme.localhost")
	require.Error(t, err)
	if res != nil {
		assert.Equal(t, http.StatusUnauthorized, res.StatusCode)
	}

	code, _ := acme.json("POST", "/api/notifications/", map[string]any{"message": "for acme only"})
	require.Equal(t, http.StatusCreated, code)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, msg, err := ca.Read(ctx)
	require.NoError(t, err)
	assert.Contains(t, string(msg), "for acme only")

	code, _ = globex.json("POST", "/api/notifications/", map[string]any{"message": "for globex"})
	require.Equal(t, http.StatusCreated, code)
	_, msg, err = cg.Read(ctx)
	require.NoError(t, err)
	assert.Contains(t, string(msg), "for globex", "globex must receive only its own notification")
	assert.NotContains(t, string(msg), "acme")
}

func TestOperatorAPI(t *testing.T) {
	s := newServer(t, "sqlite")
	op := s.client(t, "platform.localhost")
	code, _ := op.json("GET", "/admin/api/tenants/", nil)
	assert.Equal(t, http.StatusUnauthorized, code)
	op.token = "op-secret"
	code, list := op.json("GET", "/admin/api/tenants/", nil)
	require.Equal(t, http.StatusOK, code)
	assert.Len(t, list["results"], 2)
	code, created := op.json("POST", "/admin/api/tenants/", map[string]any{"slug": "initech", "name": "Initech"})
	require.Equal(t, http.StatusCreated, code, "%v", created)
	code, b := s.client(t, "initech.localhost").json("GET", "/api/tenant-branding/", nil)
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, "Initech", b["company_name"])
	code, _ = op.json("POST", "/admin/api/tenants/", map[string]any{"slug": "www", "name": "x"})
	assert.Equal(t, http.StatusBadRequest, code)
	code, _ = op.json("POST", "/admin/api/tenants/initech/suspend/", nil)
	require.Equal(t, http.StatusOK, code)
	code, _ = s.client(t, "initech.localhost").json("GET", "/api/tenant-branding/", nil)
	assert.Equal(t, http.StatusForbidden, code)
	code, d := op.json("POST", "/admin/api/tenants/globex/domains/", map[string]any{"host": "crm.acme.test"})
	assert.Equal(t, http.StatusBadRequest, code, "acme's domain must not pass to globex: %v", d)
	code, _ = op.json("POST", "/admin/api/tenants/globex/domains/", map[string]any{"host": "evil.localhost"})
	assert.Equal(t, http.StatusBadRequest, code)

	// Never on a tenant host.
	onTenant := s.client(t, "acme.localhost")
	onTenant.token = "op-secret"
	code, _ = onTenant.json("GET", "/admin/api/tenants/", nil)
	assert.Equal(t, http.StatusNotFound, code)

	code, v := op.json("PUT", "/admin/api/tenants/acme/credentials/openai/", map[string]any{"key": "sk-acme"})
	require.Equal(t, http.StatusOK, code, "%v", v)
	assert.EqualValues(t, 1, v["version"])
	acmeT, _ := s.app.tenants.BySlug(context.Background(), "acme")
	sec, err := s.app.vault.Get(tenant.NewContext(context.Background(), acmeT), "openai")
	require.NoError(t, err)
	assert.Equal(t, "sk-acme", sec.Reveal())
	code, _ = op.json("PUT", "/admin/api/tenants/acme/credentials/Open%20AI/", map[string]any{"key": "x"})
	assert.Equal(t, http.StatusBadRequest, code)

	code, ready := s.client(t, "anything").json("GET", "/readyz", nil)
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "ok", ready["database"])
}

func TestCommands(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	run := commandRunner(dir, &out)
	// The first run seeds nothing (commands never seed); create tenants.
	require.NoError(t, run("tenant", "create", "-slug", "initech", "-name", "Initech"))
	assert.Contains(t, out.String(), "created tenant initech")
	require.Error(t, run("tenant", "create", "-slug", "www", "-name", "x"))
	require.NoError(t, run("tenant", "list"))
	assert.Contains(t, out.String(), "initech")
	require.NoError(t, run("domain", "add", "-tenant", "initech", "-host", "CRM.Initech.example"))
	assert.Contains(t, out.String(), "_tenantwall-challenge.crm.initech.example TXT")
	require.NoError(t, run("resolve", "-host", "crm.initech.example"))
	assert.Contains(t, out.String(), "pending, only active domains serve")
	require.Error(t, run("domain", "verify", "-host", "crm.initech.example"), "no DNS record is published")
	require.NoError(t, run("domain", "list", "-tenant", "initech"))
	assert.Contains(t, out.String(), "crm.initech.example\tpending")
	require.NoError(t, run("tenant", "suspend", "-slug", "initech"))
	assert.Contains(t, out.String(), "suspended")
	require.Error(t, run("audit"), "audit is for PostgreSQL")
	require.Error(t, run("bogus"))
}

func TestMigrateFilesCommand(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	run := commandRunner(dir, &out)
	require.NoError(t, run("tenant", "create", "-slug", "initech", "-name", "Initech"))
	// Files of the old shared layout, beside the tenant prefixes.
	files := filepath.Join(dir, "files")
	require.NoError(t, os.MkdirAll(filepath.Join(files, "documents"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(files, "documents", "tps-report.pdf"), []byte("%PDF tps"), 0o644))
	mapFile := filepath.Join(dir, "map.csv")
	require.NoError(t, os.WriteFile(mapFile, []byte("documents/tps-report.pdf,initech,documents\n"), 0o644))

	require.NoError(t, run("migrate-files", "-map", mapFile, "-dry-run"))
	assert.Contains(t, out.String(), "would move documents/tps-report.pdf")
	_, err := os.Stat(filepath.Join(files, "documents", "tps-report.pdf"))
	require.NoError(t, err, "a dry run moved the file")

	require.NoError(t, run("migrate-files", "-map", mapFile))
	assert.Contains(t, out.String(), "moved documents/tps-report.pdf -> documents/")
	_, err = os.Stat(filepath.Join(files, "documents", "tps-report.pdf"))
	assert.True(t, os.IsNotExist(err), "the source must be gone after a verified move")
	require.NoError(t, run("migrate-files", "-map", mapFile))
	assert.Contains(t, out.String(), "already moved")

	require.NoError(t, os.WriteFile(mapFile, []byte("documents/x.pdf,nobody,documents\n"), 0o644))
	assert.Error(t, run("migrate-files", "-map", mapFile), "an unknown tenant in the map")
}

func TestSecretsKeeperByURL(t *testing.T) {
	t.Setenv("CRM_SECRETS_URL", "base64key://smGbjm71Nxd1Ig5FS0wj9SlbzAIrnolCz9bQQ6uAhl4=")
	s := newServer(t, "sqlite")
	acmeT, err := s.app.tenants.BySlug(context.Background(), "acme")
	require.NoError(t, err)
	ctx := tenant.NewContext(context.Background(), acmeT)
	_, err = s.app.vault.Set(ctx, "openai", "sk-by-url")
	require.NoError(t, err)
	sec, err := s.app.vault.Get(ctx, "openai")
	require.NoError(t, err)
	assert.Equal(t, "sk-by-url", sec.Reveal())
	t.Setenv("CRM_SECRETS_URL", "nokms://x")
	cfg, _, _ := parseFlags("crm", []string{"-data", t.TempDir()}, io.Discard)
	_, err = newApp(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	assert.Error(t, err, "an unknown keeper URL must stop the start")
}

// commandRunner runs crm commands on the data directory dir, capturing
// their output in out.
func commandRunner(dir string, out *bytes.Buffer) func(args ...string) error {
	return func(args ...string) error {
		out.Reset()
		return run(context.Background(), append([]string{"-data", dir, "-bcrypt-cost", "4"}, args...), out, io.Discard)
	}
}

func TestTrustedProxies(t *testing.T) {
	s := newServer(t, "sqlite", "-trusted-proxies", "127.0.0.0/8, ::1")
	req, _ := http.NewRequest("GET", s.URL+"/api/tenant-branding/", nil)
	req.Host = "proxy.internal"
	req.Header.Set("X-Forwarded-Host", "globex.localhost")
	res, err := s.Client().Do(req)
	require.NoError(t, err)
	var b map[string]any
	require.NoError(t, json.NewDecoder(res.Body).Decode(&b))
	res.Body.Close()
	assert.Equal(t, "globex", b["slug"], "the test client is on 127.0.0.1, a trusted proxy")
	_, _, err = parseFlags("crm", []string{"-trusted-proxies", "nonsense"}, io.Discard)
	require.NoError(t, err)
	cfg, _, _ := parseFlags("crm", []string{"-data", t.TempDir(), "-trusted-proxies", "nonsense"}, io.Discard)
	_, err = newApp(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	assert.Error(t, err, "a bad CIDR must stop the start")
}
