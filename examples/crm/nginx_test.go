package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/internal/testenv"
)

// nginxAddr is the loopback address nginx connects to the server from,
// and the only one the server trusts as a proxy: the test's own direct
// requests come from 127.0.0.1.
const nginxAddr = "127.0.0.2"

// behindNginx is the reference server behind nginx.conf, as shipped with
// only its ports and paths (and, as root, its workers' user) replaced.
type behindNginx struct {
	crm   *server
	nginx *testenv.Nginx
	base  string // http://127.0.0.1:port of nginx
	data  string
}

func startBehindNginx(t *testing.T) *behindNginx {
	t.Helper()
	testenv.NginxBinary(t)
	data := t.TempDir()
	crm := startServer(t, []string{"-data", data, "-operator-token", "op-secret", "-bcrypt-cost", "4",
		"-trusted-proxies", nginxAddr + "/32", "-accel-redirect", "/protected/media/"})
	conf, err := os.ReadFile("nginx.conf")
	require.NoError(t, err)
	port := testenv.FreePort(t)
	replace := []string{
		"listen 80;", "listen 127.0.0.1:" + strconv.Itoa(port) + ";",
		"server 127.0.0.1:8080;", "server " + crm.Listener.Addr().String() + ";",
		"alias /var/lib/crm/files/;", "alias " + filepath.Join(data, "files") + "/;",
		"proxy_pass http://crm;", "proxy_pass http://crm;\n            proxy_bind " + nginxAddr + ";",
	}
	if os.Geteuid() == 0 {
		// The server runs in this process, as root, and writes its files
		// 0600: nginx's workers read them as root too.
		replace = append(replace, "# user crm;", "user root;")
	}
	r := strings.NewReplacer(replace...)
	out := r.Replace(string(conf))
	for i := 0; i < len(replace); i += 2 {
		require.Contains(t, out, replace[i+1], "nginx.conf no longer has %q", replace[i])
	}
	prefix := testenv.NginxPrefix(t)
	confPath := filepath.Join(prefix, "nginx.conf")
	require.NoError(t, os.WriteFile(confPath, []byte(out), 0o644))
	testenv.NginxTest(t, prefix, confPath)
	n := testenv.StartNginx(t, prefix, confPath, "127.0.0.1:"+strconv.Itoa(port))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("nginx error log:\n%s", n.ErrorLog())
		}
	})
	return &behindNginx{crm: crm, nginx: n, base: "http://127.0.0.1:" + strconv.Itoa(port), data: data}
}

// visitor is a browser on one host, talking to base (nginx or the server).
type visitor struct {
	t    *testing.T
	base string
	host string
	jar  http.CookieJar
	hc   *http.Client
}

func newVisitor(t *testing.T, base, host string, from string) *visitor {
	jar, _ := cookiejar.New(nil)
	d := &net.Dialer{Timeout: 5 * time.Second}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	t.Cleanup(hc.CloseIdleConnections)
	return &visitor{t: t, base: base, host: host, jar: jar, hc: hc}
}

func (v *visitor) do(method, path string, body io.Reader, h http.Header) (int, []byte, http.Header) {
	v.t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, v.base+path, body)
	require.NoError(v.t, err)
	req.Host = v.host
	for k, vals := range h {
		req.Header[k] = vals
	}
	u, _ := url.Parse("http://" + v.host + "/")
	for _, c := range v.jar.Cookies(u) {
		req.AddCookie(c)
	}
	res, err := v.hc.Do(req)
	require.NoError(v.t, err)
	defer res.Body.Close()
	v.jar.SetCookies(u, res.Cookies())
	b, err := io.ReadAll(res.Body)
	require.NoError(v.t, err)
	return res.StatusCode, b, res.Header
}

func (v *visitor) json(method, path string, in any, h http.Header) (int, map[string]any) {
	v.t.Helper()
	var body io.Reader
	if h == nil {
		h = http.Header{}
	}
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
		h.Set("Content-Type", "application/json")
	}
	code, b, _ := v.do(method, path, body, h)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return code, out
}

func (v *visitor) slug(h http.Header) (int, any) {
	v.t.Helper()
	code, b := v.json("GET", "/api/tenant-branding/", nil, h)
	return code, b["slug"]
}

func (v *visitor) login(email string) *visitor {
	v.t.Helper()
	code, b := v.json("POST", "/api/auth/login/", map[string]string{"email": email, "password": "demo"}, nil)
	require.Equal(v.t, http.StatusOK, code, "login %s: %v", email, b)
	return v
}

func (v *visitor) upload(name, ctype, content string) (int, map[string]any) {
	v.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	part, _ := mw.CreatePart(map[string][]string{
		"Content-Disposition": {fmt.Sprintf(`form-data; name="file"; filename=%q`, name)},
		"Content-Type":        {ctype},
	})
	_, _ = io.WriteString(part, content)
	mw.Close()
	code, b, _ := v.do("POST", "/api/documents/", &buf, http.Header{"Content-Type": {mw.FormDataContentType()}})
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return code, out
}

func TestBehindNginx(t *testing.T) {
	n := startBehindNginx(t)
	direct := "http://" + n.crm.Listener.Addr().String()

	t.Run("tenants are resolved from the Host nginx passes on", func(t *testing.T) {
		for host, want := range map[string]string{"acme.localhost": "acme", "globex.localhost": "globex", "crm.acme.test": "acme"} {
			code, slug := newVisitor(t, n.base, host, "").slug(nil)
			assert.Equal(t, http.StatusOK, code, host)
			assert.Equal(t, want, slug, host)
		}
		for _, host := range []string{"nobody.localhost", "localhost", "127.0.0.1"} {
			code, _ := newVisitor(t, n.base, host, "").slug(nil)
			assert.Equal(t, http.StatusNotFound, code, host)
		}
	})
	t.Run("a client's forwarded headers do not pass nginx", func(t *testing.T) {
		code, slug := newVisitor(t, n.base, "acme.localhost", "").slug(http.Header{
			"X-Forwarded-Host": {"globex.localhost"},
			"Forwarded":        {"host=globex.localhost"},
		})
		assert.Equal(t, http.StatusOK, code)
		assert.Equal(t, "acme", slug, "nginx overwrites X-Forwarded-Host and drops Forwarded")
	})
	t.Run("the server trusts forwarded headers from nginx's address only", func(t *testing.T) {
		h := http.Header{"X-Forwarded-Host": {"globex.localhost"}}
		_, slug := newVisitor(t, direct, "acme.localhost", "127.0.0.1").slug(h)
		assert.Equal(t, "acme", slug, "a direct client's X-Forwarded-Host is ignored")
		_, slug = newVisitor(t, direct, "acme.localhost", nginxAddr).slug(h)
		assert.Equal(t, "globex", slug, "the proxy's X-Forwarded-Host is the host")
	})

	acme := newVisitor(t, n.base, "acme.localhost", "").login("admin@acme.test")
	globex := newVisitor(t, n.base, "globex.localhost", "").login("admin@globex.test")
	secret := "%PDF-1.4 acme secret " + strings.Repeat("x", 100_000)
	code, doc := acme.upload("Q3 plan \"final\".pdf", "application/pdf", secret)
	require.Equal(t, http.StatusCreated, code, "%v", doc)
	download := fmt.Sprintf("/api/documents/%v/download/", doc["id"])

	t.Run("downloads are sent by nginx with the server's headers", func(t *testing.T) {
		code, body, h := acme.do("GET", download, nil, nil)
		require.Equal(t, http.StatusOK, code)
		assert.Equal(t, secret, string(body))
		assert.Empty(t, h.Get("X-Accel-Redirect"), "nginx consumes the header")
		assert.Equal(t, "application/octet-stream", h.Get("Content-Type"))
		assert.Equal(t, []string{"nosniff"}, h.Values("X-Content-Type-Options"))
		assert.Equal(t, []string{"default-src 'none'; sandbox"}, h.Values("Content-Security-Policy"))
		assert.Equal(t, `attachment; filename="Q3 plan _final_.pdf"; filename*=UTF-8''Q3%20plan%20%22final%22.pdf`, h.Get("Content-Disposition"))

		// The server's own answer, which nginx turned into the file.
		dv := newVisitor(t, direct, "acme.localhost", "")
		dv.jar = acme.jar
		code, body, dh := dv.do("GET", download, nil, nil)
		require.Equal(t, http.StatusOK, code)
		assert.Empty(t, body, "the server sends no bytes itself")
		assert.True(t, strings.HasPrefix(dh.Get("X-Accel-Redirect"), "/protected/media/"), dh.Get("X-Accel-Redirect"))
		for _, k := range []string{"Content-Type", "Content-Disposition", "X-Content-Type-Options", "Content-Security-Policy", "Cache-Control"} {
			assert.Equal(t, dh.Values(k), h.Values(k), "%s through nginx", k)
		}
	})
	t.Run("another tenant's download is 404", func(t *testing.T) {
		code, body, _ := globex.do("GET", download, nil, nil)
		assert.Equal(t, http.StatusNotFound, code)
		assert.NotContains(t, string(body), "secret")
	})
	t.Run("the internal location cannot be asked for directly", func(t *testing.T) {
		dv := newVisitor(t, direct, "acme.localhost", "")
		dv.jar = acme.jar
		_, _, dh := dv.do("GET", download, nil, nil)
		path := dh.Get("X-Accel-Redirect")
		require.NotEmpty(t, path)
		for _, p := range []string{path, "/protected/media/", "/protected/media//" + strings.TrimPrefix(path, "/protected/media/"), "/PROTECTED/media/"} {
			code, body, _ := acme.do("GET", p, nil, nil)
			assert.Equal(t, http.StatusNotFound, code, p)
			assert.NotContains(t, string(body), "secret", p)
		}
		// nginx resolves the dot segments first: this is a request for
		// /crm.db, which goes to the server and is not a file there.
		code, body, _ := acme.do("GET", "/protected/media/../crm.db", nil, nil)
		assert.NotEqual(t, http.StatusOK, code)
		assert.NotContains(t, string(body), "SQLite format")
	})
}

func TestAccelRedirectFlagRefusesABadLocation(t *testing.T) {
	for _, loc := range []string{"protected/media/", "/protected/media", "/protected/../media/", "http://x/"} {
		_, _, err := parseFlags("crm", []string{"-accel-redirect", loc}, io.Discard)
		assert.Error(t, err, loc)
	}
	_, _, err := parseFlags("crm", []string{"-accel-redirect", "/protected/media/"}, io.Discard)
	assert.NoError(t, err)
}
