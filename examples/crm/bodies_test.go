package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A JSON body over its endpoint's limit is refused for its size, 413 with a
// JSON error, like an upload over the limit — not as malformed JSON (400),
// which would tell the client to fix a body that is well-formed.
func TestJSONBodyOverTheLimitIs413(t *testing.T) {
	s := newServer(t, "sqlite")
	acme := s.client(t, "acme.localhost").login("admin@acme.test")
	op := s.client(t, "platform.localhost")
	op.token = "op-secret"
	big := func(field string, n int) string {
		return `{"` + field + `":"` + strings.Repeat("a", n) + `"}`
	}
	cases := []struct {
		name, method, path, body string
		c                        *client
	}{
		{"a lead over 64 KiB", "POST", "/api/leads/", big("name", 70<<10), acme},
		{"a lead update over 64 KiB", "PATCH", "/api/leads/1/", big("name", 70<<10), acme},
		{"a login over 16 KiB", "POST", "/api/auth/login/", big("email", 20<<10), s.client(t, "acme.localhost")},
		{"a token request over 16 KiB", "POST", "/api/auth/token/", big("email", 20<<10), s.client(t, "acme.localhost")},
		{"an operator request over 16 KiB", "POST", "/admin/api/tenants/", big("Name", 20<<10), op},
	}
	for _, c := range cases {
		t.Run(c.name+" answers 413 with a JSON error", func(t *testing.T) {
			code, b, hdr := c.c.do(c.method, c.path, strings.NewReader(c.body), "application/json")
			assert.Equal(t, http.StatusRequestEntityTooLarge, code, "%s", b)
			assert.Equal(t, "application/json", hdr.Get("Content-Type"))
			var out map[string]string
			require.NoError(t, json.Unmarshal(b, &out), "%s", b)
			assert.Contains(t, out["error"], "too large")
		})
	}
	t.Run("a lead just under the limit is still judged by its fields", func(t *testing.T) {
		code, b, _ := acme.do("POST", "/api/leads/", strings.NewReader(big("name", 60<<10)), "application/json")
		assert.Equal(t, http.StatusBadRequest, code, "%s", b)
	})
}
