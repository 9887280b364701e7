package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/tenant"
)

// tenantCtx is the context of the demo tenant slug, for reading its data
// directly.
func tenantCtx(t *testing.T, slug string) context.Context {
	t.Helper()
	for _, d := range demoTenants {
		if d.t.Slug == slug {
			return tenant.NewContext(context.Background(), d.t)
		}
	}
	t.Fatalf("no demo tenant %q", slug)
	return nil
}

// pageTrip is roundTrip without following redirects, as a page test
// must see the 303s.
func (c *client) pageTrip(method, path string, body io.Reader, h http.Header) (int, []byte, http.Header) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.s.URL+path, body)
	require.NoError(c.t, err)
	req.Host = c.host
	for k, v := range h {
		req.Header[k] = v
	}
	u, _ := url.Parse("http://" + c.host + "/")
	for _, ck := range c.jar.Cookies(u) {
		req.AddCookie(ck)
	}
	hc := *c.s.Client()
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := hc.Do(req)
	require.NoError(c.t, err)
	defer res.Body.Close()
	c.jar.SetCookies(u, res.Cookies())
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b, res.Header
}

// form posts a urlencoded form as the client, with extra headers.
func (c *client) form(path string, vals url.Values, h ...string) (int, string, http.Header) {
	c.t.Helper()
	hdr := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	for i := 0; i+1 < len(h); i += 2 {
		hdr.Set(h[i], h[i+1])
	}
	code, b, resHdr := c.pageTrip("POST", path, strings.NewReader(vals.Encode()), hdr)
	return code, string(b), resHdr
}

func (c *client) page(path string) (int, string, http.Header) {
	c.t.Helper()
	code, b, h := c.pageTrip("GET", path, nil, http.Header{"Sec-Fetch-Site": {"none"}})
	return code, string(b), h
}

func (c *client) signInPage(email string) *client {
	c.t.Helper()
	code, body, h := c.form("/login/", url.Values{"email": {email}, "password": {"demo"}})
	require.Equal(c.t, http.StatusSeeOther, code, body)
	require.Equal(c.t, "/", h.Get("Location"))
	return c
}

func TestPagesUnknownHostRevealNothing(t *testing.T) {
	s := newServer(t, "sqlite")
	for _, host := range []string{"nobody.localhost", "localhost", "127.0.0.1:8080", "a.acme.localhost", "crm.acme.test.evil"} {
		for _, path := range []string{"/", "/login/", "/leads/1/", "/static/app.css", "/theme.css"} {
			code, body, h := s.client(t, host).page(path)
			assert.Equal(t, http.StatusNotFound, code, "%s%s", host, path)
			assert.Equal(t, string(plainNotFound), body, "one plain page for every unknown host: %s%s", host, path)
			assert.Contains(t, h.Get("Content-Security-Policy"), "default-src 'none'")
		}
		code, body, _ := s.client(t, host).page("/api/leads/")
		assert.Equal(t, http.StatusNotFound, code)
		assert.JSONEq(t, `{"error":"not found"}`, body, "the API keeps its JSON error")
	}
	for _, name := range []string{"acme", "Acme", "globex", "Globex", "tenant"} {
		assert.NotContains(t, string(plainNotFound), name)
	}
}

// inlineAttr finds style and event-handler attributes and <style>
// elements; scriptTag finds every <script> element with its content.
var (
	inlineAttr = regexp.MustCompile(`(?i)\sstyle\s*=|<style|\son[a-z]+\s*=`)
	scriptTag  = regexp.MustCompile(`(?is)<script([^>]*)>(.*?)</script>`)
)

// inlineCode lists what a strict policy would block, or what would carry
// script or style into a page: style and event-handler attributes,
// <style> elements, and scripts that are not an empty element loading a
// file by src.
func inlineCode(page string) []string {
	found := inlineAttr.FindAllString(page, -1)
	for _, m := range scriptTag.FindAllStringSubmatch(page, -1) {
		if !strings.Contains(m[1], "src=") || strings.TrimSpace(m[2]) != "" {
			found = append(found, m[0])
		}
	}
	if n := strings.Count(strings.ToLower(page), "<script"); n != len(scriptTag.FindAllString(page, -1)) {
		found = append(found, "an unclosed <script>")
	}
	return found
}

func TestPagesOfASuspendedTenantRevealNothing(t *testing.T) {
	s := newServer(t, "sqlite")
	op := s.client(t, "platform.localhost")
	op.token = "op-secret"
	code, _ := op.json("POST", "/admin/api/tenants/", map[string]any{"slug": "initech", "name": "Initech"})
	require.Equal(t, http.StatusCreated, code)
	code, _ = op.json("POST", "/admin/api/tenants/initech/suspend/", nil)
	require.Equal(t, http.StatusOK, code)
	for _, path := range []string{"/", "/login/", "/theme.css"} {
		code, body, h := s.client(t, "initech.localhost").page(path)
		assert.Equal(t, http.StatusForbidden, code, path)
		assert.Equal(t, string(plainSuspended), body, path)
		assert.Contains(t, h.Get("Content-Security-Policy"), "default-src 'none'")
	}
	assert.NotContains(t, string(plainSuspended), "Initech")
	code, body, _ := s.client(t, "initech.localhost").page("/api/leads/")
	assert.Equal(t, http.StatusForbidden, code)
	assert.JSONEq(t, `{"error":"tenant suspended"}`, body, "the API keeps its JSON error")
}

func TestPagesAreBrandedAndUnderAStrictPolicy(t *testing.T) {
	s := newServer(t, "sqlite")
	acme := s.client(t, "acme.localhost").signInPage("admin@acme.test")
	globex := s.client(t, "globex.localhost").signInPage("admin@globex.test")
	for _, c := range []struct {
		c          *client
		name, logo string
	}{{acme, "Acme Corporation", "https://static.acme.test"}, {globex, "Globex Inc", "https://static.globex.test"}} {
		for _, path := range []string{"/", "/leads/", "/leads/1/", "/tasks/", "/notifications/", "/documents/", "/applicants/", "/nowhere"} {
			code, body, h := c.c.page(path)
			if path == "/nowhere" || path == "/leads/1/" && c.c == globex {
				assert.Equal(t, http.StatusNotFound, code, path)
			} else {
				assert.Equal(t, http.StatusOK, code, path)
			}
			assert.Equal(t, "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' "+c.logo+
				"; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'", h.Get("Content-Security-Policy"), path)
			assert.Equal(t, "nosniff", h.Get("X-Content-Type-Options"))
			assert.Equal(t, "DENY", h.Get("X-Frame-Options"))
			assert.Equal(t, "no-store", h.Get("Cache-Control"))
			assert.Contains(t, body, `<span id="company">`+c.name+`</span>`, path)
			assert.Empty(t, inlineCode(body), "%s has inline script or style", path)
		}
	}
	// The matcher does find what it looks for.
	for _, bad := range []string{`<p style="color:red">`, `<script>alert(1)</script>`, `<img src=x onerror=alert(1)>`, `<style>p{}</style>`, `<script type="module">x()</script>`, `<script src="/a.js">x()</script>`, `<SCRIPT>`} {
		assert.NotEmpty(t, inlineCode(bad), bad)
	}
	assert.Empty(t, inlineCode(`<script src="/static/app.js?v=1" defer></script>`))

	code, css, h := acme.page("/theme.css")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, ":root{--brand:#d9480f}\n", css)
	assert.Equal(t, "text/css; charset=utf-8", h.Get("Content-Type"))
	_, css, _ = globex.page("/theme.css")
	assert.Equal(t, ":root{--brand:#1c7ed6}\n", css)

	code, _, h = acme.page("/static/app.js?v=" + assetVersion)
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "public, max-age=31536000, immutable", h.Get("Cache-Control"))
	assert.Equal(t, "nosniff", h.Get("X-Content-Type-Options"))
	code, body, _ := acme.page("/static/")
	assert.Equal(t, http.StatusNotFound, code)
	assert.NotContains(t, body, `<a href="app.js">`, "no listing")
	_, _, h = acme.page("/static/app.js?v=old")
	assert.Equal(t, "no-cache", h.Get("Cache-Control"), "only the current version is cached for good")
}

func TestPagesSignInAndOut(t *testing.T) {
	s := newServer(t, "sqlite")
	c := s.client(t, "acme.localhost")
	code, _, h := c.page("/leads/")
	assert.Equal(t, http.StatusSeeOther, code)
	assert.Equal(t, "/login/", h.Get("Location"))

	code, body, _ := c.form("/login/", url.Values{"email": {"admin@acme.test"}, "password": {"wrong"}})
	assert.Equal(t, http.StatusUnauthorized, code)
	assert.Contains(t, body, "Invalid email or password.")
	assert.Contains(t, body, `value="admin@acme.test"`, "the email is kept")
	code, body, _ = c.form("/login/", url.Values{"password": {"demo"}})
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Contains(t, body, `field &#34;email&#34; is required`)
	code, body, _ = c.form("/login/", url.Values{"email": {"admin@acme.test"}, "password": {"demo"}, "tenant": {"globex"}})
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Contains(t, body, `field &#34;tenant&#34; is not allowed`)

	// acme's user does not sign in on globex, and acme's cookie is no
	// session there.
	code, _, _ = s.client(t, "globex.localhost").form("/login/", url.Values{"email": {"admin@acme.test"}, "password": {"demo"}})
	assert.Equal(t, http.StatusUnauthorized, code)
	c.signInPage("admin@acme.test")
	code, _, _ = c.page("/leads/")
	assert.Equal(t, http.StatusOK, code)
	stolen := s.client(t, "globex.localhost")
	u, _ := url.Parse("http://globex.localhost/")
	au, _ := url.Parse("http://acme.localhost/")
	stolen.jar.SetCookies(u, c.jar.Cookies(au))
	code, _, h = stolen.page("/leads/")
	assert.Equal(t, http.StatusSeeOther, code, "acme's session on globex's host")
	assert.Equal(t, "/login/", h.Get("Location"))

	code, _, h = c.form("/logout/", nil)
	assert.Equal(t, http.StatusSeeOther, code)
	assert.Equal(t, "/login/", h.Get("Location"))
	code, _, _ = c.page("/leads/")
	assert.Equal(t, http.StatusSeeOther, code, "signed out")
}

func TestPagesSecureCookieIsHostPrefixed(t *testing.T) {
	s := startServer(t, []string{"-data", t.TempDir(), "-bcrypt-cost", "4", "-secure-cookies"})
	c := s.client(t, "acme.localhost")
	code, _, h := c.form("/login/", url.Values{"email": {"admin@acme.test"}, "password": {"demo"}})
	require.Equal(t, http.StatusSeeOther, code)
	set := h.Get("Set-Cookie")
	assert.True(t, strings.HasPrefix(set, "__Host-session="), set)
	for _, attr := range []string{"; Path=/", "; HttpOnly", "; Secure", "; SameSite=Lax"} {
		assert.Contains(t, set, attr)
	}
	assert.NotContains(t, set, "Domain=")
}

func TestPagesOverTLSUseHostPrefixedCookies(t *testing.T) {
	cfg, _, err := parseFlags("crm", []string{"-data", t.TempDir(), "-bcrypt-cost", "4"}, io.Discard)
	require.NoError(t, err)
	a, err := newApp(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	t.Cleanup(a.close)
	ts := httptest.NewUnstartedServer(a.routes())
	ts.StartTLS()
	t.Cleanup(ts.Close)
	s := &server{Server: ts, app: a}
	c := s.client(t, "acme.localhost")
	code, _, h := c.form("/login/", url.Values{"email": {"admin@acme.test"}, "password": {"demo"}})
	require.Equal(t, http.StatusSeeOther, code)
	set := h.Get("Set-Cookie")
	assert.True(t, strings.HasPrefix(set, "__Host-session="), set)
	assert.Contains(t, set, "; Secure")
	code, body, _ := c.page("/leads/")
	assert.Equal(t, http.StatusOK, code, "the __Host- cookie signs the browser in over TLS")
	assert.Contains(t, body, "Wile E. Coyote")
}

func TestPageFormsSayWhatIsWrongAndLoseNothing(t *testing.T) {
	s := newServer(t, "sqlite")
	c := s.client(t, "acme.localhost").signInPage("admin@acme.test")
	count := func() int {
		items, err := s.app.list(tenantCtx(t, "acme"), resources["leads"])
		require.NoError(t, err)
		return len(items)
	}
	before := count()
	for _, tc := range []struct {
		name, body, ctype string
		code              int
		says              string
	}{
		{"a blank name", "name=+++&phone=555-0199", "", http.StatusBadRequest, `field &#34;name&#34;: must not be empty`},
		{"no name", "phone=555", "", http.StatusBadRequest, `field &#34;name&#34; is required`},
		{"a tenant field", "name=x&tenant_id=5e2d8c77-1b0a-4f6e-9c3d-7a8b9c0d1e02", "", http.StatusBadRequest, `field &#34;tenant_id&#34; is not allowed`},
		{"a repeated field", "name=x&name=y", "", http.StatusBadRequest, `field &#34;name&#34; is sent more than once`},
		{"an unknown status", "name=x&status=bribed", "", http.StatusBadRequest, `must be one of new, contacted, qualified, won, lost`},
		{"a control character", "name=x%00y", "", http.StatusBadRequest, `contains control characters`},
		{"a name too long", "name=" + strings.Repeat("x", 201), "", http.StatusBadRequest, `longer than 200 bytes`},
		{"a JSON body", `{"name":"x"}`, "application/json", http.StatusUnsupportedMediaType, `Content-Type application/x-www-form-urlencoded is required`},
		{"a text body", `name=x`, "text/plain", http.StatusUnsupportedMediaType, `is required`},
		{"a body over 64 KiB", "name=x&phone=" + strings.Repeat("5", 64<<10), "", http.StatusRequestEntityTooLarge, `The form is too large.`},
		{"a malformed body", "name=%zz", "", http.StatusBadRequest, `body: a form is required`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctype := tc.ctype
			if ctype == "" {
				ctype = "application/x-www-form-urlencoded"
			}
			code, b, _ := c.pageTrip("POST", "/leads/", strings.NewReader(tc.body), http.Header{"Content-Type": {ctype}})
			assert.Equal(t, tc.code, code)
			assert.Contains(t, string(b), tc.says)
			if tc.code == http.StatusBadRequest {
				assert.Contains(t, string(b), `id="form-error"`)
			}
		})
	}
	_, body, _ := c.form("/leads/", url.Values{"name": {" "}, "phone": {"555-0199"}, "email": {`"><script>x()</script>`}})
	assert.Contains(t, body, `value="555-0199"`, "the input is kept")
	assert.Contains(t, body, `value="&#34;&gt;&lt;script&gt;x()&lt;/script&gt;"`, "and escaped")
	assert.Equal(t, before, count(), "no refused form created a lead")

	code, _, h := c.form("/leads/", url.Values{"name": {`<img src=x onerror=alert(1)>`}, "status": {"won"}})
	require.Equal(t, http.StatusSeeOther, code)
	assert.Equal(t, "/leads/", h.Get("Location"))
	_, body, _ = c.page("/leads/")
	assert.Contains(t, body, `&lt;img src=x onerror=alert(1)&gt;`)
	assert.NotContains(t, body, `<img src=x`)
	assert.Equal(t, before+1, count())
}

func TestPagesCrossOriginPostsAreRefused(t *testing.T) {
	s := newServer(t, "sqlite")
	c := s.client(t, "acme.localhost").signInPage("admin@acme.test")
	count := func() int {
		items, err := s.app.list(tenantCtx(t, "acme"), resources["leads"])
		require.NoError(t, err)
		return len(items)
	}
	before := count()
	for _, h := range [][]string{
		{"Sec-Fetch-Site", "same-site"},
		{"Sec-Fetch-Site", "cross-site"},
		{"Origin", "http://globex.localhost"},
		{"Origin", "null"},
	} {
		for _, path := range []string{"/leads/", "/leads/1/", "/leads/1/delete/", "/logout/", "/login/"} {
			code, _, _ := c.form(path, url.Values{"name": {"Planted"}, "status": {"lost"}}, h...)
			assert.Equal(t, http.StatusForbidden, code, "%s %v", path, h)
		}
	}
	code, _, _ := c.form("/leads/", url.Values{"name": {"Own"}}, "Sec-Fetch-Site", "same-origin")
	assert.Equal(t, http.StatusSeeOther, code, "the tenant's own page may post")
	assert.Equal(t, before+1, count())
	code, _, _ = c.page("/leads/")
	assert.Equal(t, http.StatusOK, code, "still signed in")
}

func TestPagesIsolation(t *testing.T) {
	modes(t, func(t *testing.T, s *server) {
		acme := s.client(t, "acme.localhost").signInPage("admin@acme.test")
		globex := s.client(t, "globex.localhost").signInPage("admin@globex.test")
		code, _, _ := acme.form("/leads/", url.Values{"name": {"Secret Lead"}})
		require.Equal(t, http.StatusSeeOther, code)
		items, err := s.app.list(tenantCtx(t, "acme"), resources["leads"])
		require.NoError(t, err)
		id := ""
		for _, it := range items {
			if it["name"] == "Secret Lead" {
				id = fmt.Sprint(it["id"])
			}
		}
		require.NotEmpty(t, id)

		code, body, _ := acme.page("/leads/" + id + "/")
		assert.Equal(t, http.StatusOK, code)
		assert.Contains(t, body, "Secret Lead")

		code, body, _ = globex.page("/leads/" + id + "/")
		assert.Equal(t, http.StatusNotFound, code)
		assert.Contains(t, body, "Globex Inc")
		assert.NotContains(t, body, "Secret Lead")
		_, body, _ = globex.page("/leads/")
		assert.NotContains(t, body, "Secret Lead")
		code, _, _ = globex.form("/leads/"+id+"/", url.Values{"name": {"pwned"}})
		assert.Equal(t, http.StatusNotFound, code)
		code, _, _ = globex.form("/leads/"+id+"/delete/", nil)
		assert.Equal(t, http.StatusNotFound, code)
		for _, bad := range []string{"0", "-1", "abc", "1e3", "99999999999999999999"} {
			code, _, _ = globex.page("/leads/" + bad + "/")
			assert.Equal(t, http.StatusNotFound, code, bad)
		}
		_, body, _ = acme.page("/leads/" + id + "/")
		assert.Contains(t, body, `value="Secret Lead"`, "acme's lead is intact")
	})
}

func TestThemeColourAcceptsOnlyHexColours(t *testing.T) {
	for in, want := range map[string]string{
		"#D9480F": "#d9480f", "#abc": "#abc", "": defaultColour, "red": defaultColour,
		"#d9480f;}body{display:none": defaultColour, "#d9480f\n": defaultColour, "#12345": defaultColour,
		"#1234567": defaultColour, "expression(alert(1))": defaultColour, "#ggg": defaultColour,
	} {
		assert.Equal(t, want, themeColour(in), "%q", in)
	}
}

func TestLogoSourceAcceptsOnlyPlainHTTPOrigins(t *testing.T) {
	for in, want := range map[string]string{
		"https://static.acme.test/logo.png":         "https://static.acme.test",
		"http://cdn.example.com:8080/a/b.svg?x=1":   "http://cdn.example.com:8080",
		"HTTPS://Static.Acme.TEST/x":                "https://static.acme.test",
		"https://static.acme.test/x; script-src *":  "https://static.acme.test",
		"javascript:alert(1)":                       "",
		"data:image/png;base64,AAAA":                "",
		"//static.acme.test/logo.png":               "",
		"https://user:pw@static.acme.test/":         "",
		"https://static.acme.test:99999/":           "",
		"https://static.acme.test:080/":             "",
		"https://[::1]/logo.png":                    "",
		"https://a b.test/":                         "",
		"https://static.acme.test;script-src:*/":    "",
		"https://*.acme.test/":                      "",
		"https://'unsafe-inline'/":                  "",
		"":                                          "",
		"https://":                                  "",
		"ftp://static.acme.test/logo.png":           "",
		"https://static.acme.test\n.evil/logo.png":  "",
		"https://static.acme.test%0a.evil/logo.png": "",
	} {
		got, ok := logoSource(in)
		assert.Equal(t, want, got, "%q", in)
		assert.Equal(t, want != "", ok, "%q", in)
	}
}

// cspSource is what a logo may add to the policy: one scheme, one host,
// at most a port.
var cspSource = regexp.MustCompile(`^https?://[a-z0-9.-]+(?::[0-9]{1,5})?$`)

func FuzzLogoSource(f *testing.F) {
	for _, s := range []string{"https://static.acme.test/logo.png", "http://a.test:1/", "javascript:x", "https://a.test;x/", "https://[::1]/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		src, ok := logoSource(in)
		if ok != (src != "") {
			t.Fatalf("logoSource(%q) = %q, %v", in, src, ok)
		}
		if ok && !cspSource.MatchString(src) {
			t.Fatalf("logoSource(%q) = %q: not a plain source", in, src)
		}
		if c := themeColour(in); c != defaultColour && !hexColour.MatchString(c) {
			t.Fatalf("themeColour(%q) = %q", in, c)
		}
	})
}

// FuzzDecodeForm sends any body to the lead form decoder: it refuses it,
// or returns only the lead's fields, each as its JSON twin would.
func FuzzDecodeForm(f *testing.F) {
	for _, s := range []string{"name=x", "name=x&status=won", "name=%zz", "name=a&name=b", "tenant_id=x&name=y", "name=+", "status=new"} {
		f.Add(s, true)
	}
	rs := resources["leads"]
	f.Fuzz(func(t *testing.T, body string, create bool) {
		r := httptest.NewRequest("POST", "/leads/", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		vals, _, err := rs.decodeForm(httptest.NewRecorder(), r, create)
		if err != nil {
			return
		}
		if create && len(vals) != len(rs.fields) {
			t.Fatalf("%q: create without every field: %v", body, vals)
		}
		for k, v := range vals {
			f, ok := rs.field(k)
			if !ok {
				t.Fatalf("%q: unknown field %q accepted", body, k)
			}
			raw, _ := json.Marshal(v)
			if _, err := f.parse(raw); err != nil {
				t.Fatalf("%q: field %q = %q fails its own check: %v", body, k, v, err)
			}
			if f.required && v == "" {
				t.Fatalf("%q: required field %q empty", body, k)
			}
		}
	})
}
