package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// send is client.do with extra request headers (Origin, Sec-Fetch-Site,
// several Content-Type values); it returns the status and the JSON body.
func (c *client) send(method, path string, body io.Reader, h http.Header) (int, map[string]any) {
	c.t.Helper()
	code, b, _ := c.roundTrip(method, path, body, h)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return code, out
}

func headers(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

// multipartBody is a document upload of content in field.
func multipartBody(field, content string) (*bytes.Buffer, string) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("name", "Forged Applicant")
	w, _ := mw.CreateFormFile(field, "forged.txt")
	io.WriteString(w, content)
	mw.Close()
	return &buf, mw.FormDataContentType()
}

// snapshot is what a forged request could change: acme's leads and
// documents, and whether the session still works.
func snapshot(t *testing.T, c *client) string {
	t.Helper()
	code, leads := c.json("GET", "/api/leads/", nil)
	require.Equal(t, http.StatusOK, code)
	code, docs := c.json("GET", "/api/documents/", nil)
	require.Equal(t, http.StatusOK, code)
	code, apps := c.json("GET", "/api/applicants/", nil)
	require.Equal(t, http.StatusOK, code)
	return fmt.Sprint(leads, docs, apps)
}

func TestCrossOriginCookieWritesAreRefused(t *testing.T) {
	s := newServer(t, "sqlite")
	addr := s.Listener.Addr().String()
	port := addr[strings.LastIndex(addr, ":")+1:]
	acme := s.client(t, "acme.localhost:"+port).login("admin@acme.test")
	code, lead := acme.json("POST", "/api/leads/", map[string]any{"name": "Target"})
	require.Equal(t, http.StatusCreated, code)
	id := fmt.Sprint(lead["id"])
	sibling := "http://globex.localhost:" + port

	attackers := []struct {
		name   string
		header []string
	}{
		{"a sibling tenant's page (Sec-Fetch-Site same-site)", []string{"Sec-Fetch-Site", "same-site", "Origin", sibling}},
		{"another site (Sec-Fetch-Site cross-site)", []string{"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.test"}},
		{"an old browser on a sibling tenant (Origin only)", []string{"Origin", sibling}},
		{"an old browser on the same host with another port", []string{"Origin", "http://acme.localhost:1"}},
	}
	before := snapshot(t, acme)
	for _, at := range attackers {
		forged := []struct {
			name   string
			method string
			path   string
			body   func() (io.Reader, string)
		}{
			{"a text/plain POST creating a lead", "POST", "/api/leads/", func() (io.Reader, string) {
				return strings.NewReader(`{"name":"CSRF lead"}`), "text/plain"
			}},
			{"a form POST creating a lead", "POST", "/api/leads/", func() (io.Reader, string) {
				return strings.NewReader(`name=CSRF+lead`), "application/x-www-form-urlencoded"
			}},
			{"a multipart document upload", "POST", "/api/documents/", func() (io.Reader, string) { return multipartBody("file", "forged document") }},
			{"a multipart applicant upload", "POST", "/api/applicants/", func() (io.Reader, string) {
				return multipartBody("photo", "\x89PNG\r\n\x1a\n"+strings.Repeat("\x00", 32))
			}},
			{"a JSON update", "PATCH", "/api/leads/" + id + "/", func() (io.Reader, string) {
				return strings.NewReader(`{"status":"lost"}`), "application/json"
			}},
			{"a delete", "DELETE", "/api/leads/" + id + "/", func() (io.Reader, string) { return nil, "" }},
			{"a logout", "POST", "/api/auth/logout/", func() (io.Reader, string) { return nil, "text/plain" }},
			{"a login as the attacker", "POST", "/api/auth/login/", func() (io.Reader, string) {
				return strings.NewReader(`{"email":"admin@acme.test","password":"demo"}`), "text/plain"
			}},
		}
		for _, f := range forged {
			t.Run(f.name+" from "+at.name+" is refused with 403 and changes nothing", func(t *testing.T) {
				body, ctype := f.body()
				h := headers(at.header...)
				if ctype != "" {
					h.Set("Content-Type", ctype)
				}
				code, out := acme.send(f.method, f.path, body, h)
				assert.Equal(t, http.StatusForbidden, code)
				assert.Equal(t, map[string]any{"error": "cross-origin request refused"}, out)
				assert.Equal(t, before, snapshot(t, acme), "the forged request changed acme's data or ended its session")
			})
		}
	}

	t.Run("same-origin requests with the cookie still work", func(t *testing.T) {
		same := headers("Sec-Fetch-Site", "same-origin", "Origin", "http://acme.localhost:"+port, "Content-Type", "application/json")
		code, out := acme.send("POST", "/api/leads/", strings.NewReader(`{"name":"Same origin"}`), same)
		assert.Equal(t, http.StatusCreated, code, "%v", out)
		oldBrowser := headers("Origin", "http://acme.localhost:"+port, "Content-Type", "application/json")
		code, out = acme.send("PATCH", "/api/leads/"+id+"/", strings.NewReader(`{"status":"won"}`), oldBrowser)
		assert.Equal(t, http.StatusOK, code, "%v", out)
		body, ctype := multipartBody("file", "same-origin document")
		code, out = acme.send("POST", "/api/documents/", body, headers("Sec-Fetch-Site", "same-origin", "Content-Type", ctype))
		assert.Equal(t, http.StatusCreated, code, "%v", out)
		code, _ = acme.send("POST", "/api/auth/logout/", nil, headers("Sec-Fetch-Site", "same-origin"))
		assert.Equal(t, http.StatusNoContent, code)
		code, _ = acme.json("GET", "/api/auth/me/", nil)
		assert.Equal(t, http.StatusUnauthorized, code)
	})

	t.Run("bearer requests from another origin are unaffected", func(t *testing.T) {
		tok := s.client(t, "acme.localhost:"+port)
		code, pair := tok.send("POST", "/api/auth/token/", strings.NewReader(`{"email":"admin@acme.test","password":"demo"}`),
			headers("Content-Type", "application/json"))
		require.Equal(t, http.StatusOK, code)
		tok.token = pair["access"].(string)
		cross := headers("Sec-Fetch-Site", "same-site", "Origin", sibling, "Content-Type", "application/json")
		code, out := tok.send("POST", "/api/leads/", strings.NewReader(`{"name":"By token"}`), cross)
		assert.Equal(t, http.StatusCreated, code, "%v", out)
		body, ctype := multipartBody("file", "bearer document")
		code, out = tok.send("POST", "/api/documents/", body, headers("Sec-Fetch-Site", "cross-site", "Origin", "https://evil.test", "Content-Type", ctype))
		assert.Equal(t, http.StatusCreated, code, "%v", out)
	})
}

func TestTrustedOriginMayWriteWithTheCookie(t *testing.T) {
	s := newServer(t, "sqlite", "-trusted-origins", "https://app.acme.test, http://localhost:5173")
	acme := s.client(t, "acme.localhost").login("admin@acme.test")
	for _, origin := range []string{"https://app.acme.test", "http://localhost:5173"} {
		code, out := acme.send("POST", "/api/leads/", strings.NewReader(`{"name":"From `+origin+`"}`),
			headers("Sec-Fetch-Site", "cross-site", "Origin", origin, "Content-Type", "application/json"))
		assert.Equal(t, http.StatusCreated, code, "%s: %v", origin, out)
	}
	for _, origin := range []string{"https://app.acme.test:443", "http://app.acme.test", "https://evil.app.acme.test", "http://globex.localhost"} {
		code, _ := acme.send("POST", "/api/leads/", strings.NewReader(`{"name":"x"}`),
			headers("Sec-Fetch-Site", "cross-site", "Origin", origin, "Content-Type", "application/json"))
		assert.Equal(t, http.StatusForbidden, code, origin)
	}

	cfg, _, err := parseFlags("crm", []string{"-data", t.TempDir(), "-trusted-origins", "https://app.acme.test/"}, io.Discard)
	require.NoError(t, err)
	_, err = newApp(t.Context(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	assert.Error(t, err, "a malformed trusted origin must stop the start")
}

func TestJSONEndpointsTakeOnlyJSON(t *testing.T) {
	s := newServer(t, "sqlite")
	acme := s.client(t, "acme.localhost").login("admin@acme.test")
	code, lead := acme.json("POST", "/api/leads/", map[string]any{"name": "Typed"})
	require.Equal(t, http.StatusCreated, code)
	id := fmt.Sprint(lead["id"])
	before := snapshot(t, acme)

	refused := [][]string{
		nil, {"text/plain"}, {"text/plain; charset=utf-8"}, {"application/x-www-form-urlencoded"}, {"multipart/form-data; boundary=x"},
		{"text/json"}, {"application/jsonx"}, {"application/json-patch+json"}, {"application/ld+json"}, {"application/json; charset=latin1"},
		{"application/json; charset=utf-16"}, {"application/json; foo=bar"}, {"application/json; charset"}, {""},
		{"application/json", "application/json"}, {"text/plain", "application/json"}, {"application/json,text/plain"},
	}
	for _, ct := range refused {
		t.Run(fmt.Sprintf("Content-Type %q is refused with 415", ct), func(t *testing.T) {
			h := http.Header{"Content-Type": ct}
			code, out := acme.send("POST", "/api/leads/", strings.NewReader(`{"name":"Untyped"}`), h)
			assert.Equal(t, http.StatusUnsupportedMediaType, code)
			assert.Contains(t, out["error"], "application/json")
			code, _ = acme.send("PATCH", "/api/leads/"+id+"/", strings.NewReader(`{"status":"lost"}`), h)
			assert.Equal(t, http.StatusUnsupportedMediaType, code)
			code, _ = acme.send("POST", "/api/auth/login/", strings.NewReader(`{"email":"admin@acme.test","password":"demo"}`), h)
			assert.Equal(t, http.StatusUnsupportedMediaType, code)
			code, _ = acme.send("POST", "/api/auth/token/", strings.NewReader(`{"email":"admin@acme.test","password":"demo"}`), h)
			assert.Equal(t, http.StatusUnsupportedMediaType, code)
			assert.Equal(t, before, snapshot(t, acme))
		})
	}
	for _, ct := range []string{"application/json", "application/json; charset=utf-8", "Application/JSON; Charset=UTF-8"} {
		t.Run(fmt.Sprintf("Content-Type %q is accepted", ct), func(t *testing.T) {
			code, out := acme.send("POST", "/api/leads/", strings.NewReader(`{"name":"Typed"}`), headers("Content-Type", ct))
			assert.Equal(t, http.StatusCreated, code, "%v", out)
		})
	}
	t.Run("bearer requests take only JSON too", func(t *testing.T) {
		tok := s.client(t, "acme.localhost")
		code, pair := tok.json("POST", "/api/auth/token/", map[string]string{"email": "admin@acme.test", "password": "demo"})
		require.Equal(t, http.StatusOK, code)
		tok.token = pair["access"].(string)
		code, _ = tok.send("POST", "/api/leads/", strings.NewReader(`{"name":"x"}`), headers("Content-Type", "text/plain"))
		assert.Equal(t, http.StatusUnsupportedMediaType, code)
	})
	t.Run("upload endpoints take only multipart/form-data", func(t *testing.T) {
		before := snapshot(t, acme)
		for _, path := range []string{"/api/documents/", "/api/applicants/"} {
			for _, ct := range []string{"application/json", "text/plain", "application/x-www-form-urlencoded", "multipart/mixed; boundary=x", ""} {
				code, out := acme.send("POST", path, strings.NewReader(`{"name":"x"}`), headers("Content-Type", ct))
				assert.Equal(t, http.StatusUnsupportedMediaType, code, "%s %q", path, ct)
				assert.Contains(t, out["error"], "multipart/form-data")
			}
		}
		assert.Equal(t, before, snapshot(t, acme))
	})
}
