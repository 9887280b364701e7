package resolve_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/tenantwall/tenantwall/resolve"
	"github.com/tenantwall/tenantwall/tenant"
	"github.com/tenantwall/tenantwall/tenant/tenanttest"
)

func TestCheckOrigin(t *testing.T) {
	f := newFixture(t)
	audit := &tenanttest.AuditRecorder{}
	r := f.resolver(t, resolve.WithAuditor(audit), resolve.WithTrustedOrigins("console.example.com"))
	var got error
	h := r.Middleware(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) { got = r.CheckOrigin(req) }))
	check := func(host, origin string) error {
		req := httptest.NewRequest("GET", "http://"+host+"/ws/notifications", nil)
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		got = nil
		h.ServeHTTP(httptest.NewRecorder(), req)
		return got
	}
	ok := []struct{ host, origin string }{
		{"acme.app.example.com", "https://acme.app.example.com"},
		{"acme.app.example.com", "https://ACME.app.example.com:8443"},
		{"acme.app.example.com", "https://crm.acme.test"}, // same tenant, other host
		{"crm.acme.test", "http://acme.app.example.com/"},
		{"globex.app.example.com", "https://console.example.com"},
	}
	for _, c := range ok {
		assert.NoError(t, check(c.host, c.origin), "%s from %s", c.host, c.origin)
	}
	bad := []struct{ host, origin string }{
		{"acme.app.example.com", ""},
		{"acme.app.example.com", "null"},
		{"acme.app.example.com", "https://globex.app.example.com"},
		{"acme.app.example.com", "https://evil.example.org"},
		{"acme.app.example.com", "https://acme.app.example.com.evil.org"},
		{"acme.app.example.com", "file:///etc/passwd"},
		{"acme.app.example.com", "javascript:alert(1)"},
		{"acme.app.example.com", "https://user@acme.app.example.com"},
		{"acme.app.example.com", "https://acme.app.example.com/path"},
		{"acme.app.example.com", "https://127.0.0.1"},
		{"acme.app.example.com", "https://acme.app.example.com\x00.evil"},
		{"acme.app.example.com", "https://dormant.app.example.com"},
	}
	for _, c := range bad {
		assert.ErrorIs(t, check(c.host, c.origin), resolve.ErrOrigin, "%s from %q", c.host, c.origin)
	}
	assert.Contains(t, audit.Kinds(), tenant.EventCrossTenant, "a foreign tenant's origin must be audited")

	lenient := f.resolver(t, resolve.WithEmptyOrigin(true))
	req := httptest.NewRequest("GET", "http://acme.app.example.com/", nil)
	assert.NoError(t, lenient.CheckOrigin(req), "empty origin allowed when configured; host resolved without middleware")
	req = httptest.NewRequest("GET", "http://nobody.app.example.com/", nil)
	assert.ErrorIs(t, lenient.CheckOrigin(req), resolve.ErrOrigin)
}
