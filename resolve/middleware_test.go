package resolve_test

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/resolve"
	"github.com/tenantwall/tenantwall/tenant"
	"github.com/tenantwall/tenantwall/tenant/tenanttest"
)

// whoami answers with the tenant slug and the peer address, so tests can
// tell which connection carried a request.
var whoami = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	t, ok := tenant.FromContext(r.Context())
	if !ok {
		http.Error(w, "no tenant reached the handler", http.StatusInternalServerError)
		return
	}
	w.Header().Set("X-Peer", r.RemoteAddr)
	io.WriteString(w, t.Slug)
})

func do(t *testing.T, c *http.Client, url, host string, hdr map[string]string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	require.NoError(t, err)
	req.Host = host
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := c.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, string(b), res.Header
}

func TestMiddlewareOverHTTP1AndHTTP2(t *testing.T) {
	for _, proto := range []string{"HTTP/1.1", "HTTP/2"} {
		t.Run(proto+" decides the tenant per request on one connection", func(t *testing.T) {
			f := newFixture(t)
			audit := &tenanttest.AuditRecorder{}
			r := f.resolver(t, resolve.WithAuditor(audit))
			srv := httptest.NewUnstartedServer(r.Middleware(whoami))
			if proto == "HTTP/2" {
				srv.EnableHTTP2 = true
				srv.StartTLS()
			} else {
				srv.Start()
			}
			t.Cleanup(srv.Close)
			c := srv.Client()
			if proto == "HTTP/2" {
				c.Transport.(*http.Transport).TLSClientConfig = &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}}
				c.Transport.(*http.Transport).ForceAttemptHTTP2 = true
			}

			peers := map[string]bool{}
			for _, c2 := range []struct{ host, want string }{
				{"acme.app.example.com", "acme"},
				{"globex.app.example.com", "globex"},
				{"crm.acme.test", "acme"},
				{"GLOBEX.app.example.com:443", "globex"},
			} {
				req, _ := http.NewRequest("GET", srv.URL+"/", nil)
				req.Host = c2.host
				res, err := c.Do(req)
				require.NoError(t, err)
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				assert.Equal(t, http.StatusOK, res.StatusCode, c2.host)
				assert.Equal(t, c2.want, string(body), c2.host)
				assert.Equal(t, proto, res.Proto[:len(proto)], "protocol")
				peers[res.Header.Get("X-Peer")] = true
			}
			assert.Len(t, peers, 1, "the requests should have shared one connection")
			assert.Empty(t, audit.Kinds())
		})
	}
}

func TestMiddlewareRefusals(t *testing.T) {
	f := newFixture(t)
	audit := &tenanttest.AuditRecorder{}
	r := f.resolver(t, resolve.WithAuditor(audit))
	srv := httptest.NewServer(r.Middleware(whoami))
	t.Cleanup(srv.Close)

	// Every host without a tenant gets the same answer, whatever the
	// reason, so the body cannot be used to probe for tenants.
	var bodies []string
	for _, host := range []string{"nobody.app.example.com", "pending.globex.test", "gone.acme.test",
		"www.app.example.com", "a.acme.app.example.com", "app.example.com", "acme.app.example.com.evil.com",
		"127.0.0.1", "acme..app.example.com", "acme.app.example.com:http"} {
		code, body, _ := do(t, srv.Client(), srv.URL, host, nil)
		assert.Equal(t, http.StatusNotFound, code, host)
		bodies = append(bodies, body)
	}
	for _, b := range bodies {
		assert.Equal(t, bodies[0], b)
	}
	assert.Contains(t, audit.Kinds(), tenant.EventUnknownHost)

	code, body, _ := do(t, srv.Client(), srv.URL, "dormant.app.example.com", nil)
	assert.Equal(t, http.StatusForbidden, code)
	assert.NotContains(t, body, "dormant", "the suspended answer leaks tenant data")
	assert.Contains(t, audit.Kinds(), tenant.EventSuspended)

	f.store.fail.Store(true)
	r.InvalidateAll()
	code, _, hdr := do(t, srv.Client(), srv.URL, "acme.app.example.com", nil)
	assert.Equal(t, http.StatusServiceUnavailable, code, "a store failure must not serve a default tenant")
	assert.NotEmpty(t, hdr.Get("Retry-After"))
	assert.Contains(t, audit.Kinds(), tenant.EventLookupFailure)
}

func TestCustomRefusalHandlersSeeTheReason(t *testing.T) {
	f := newFixture(t)
	var gotErr error
	var gotTenant string
	r := f.resolver(t,
		resolve.WithNotFoundHandler(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			gotErr = resolve.ErrorFromContext(req.Context())
			w.WriteHeader(http.StatusTeapot)
		})),
		resolve.WithSuspendedHandler(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			gotTenant = tenant.MustFromContext(req.Context()).Slug
			w.WriteHeader(http.StatusPaymentRequired)
		})),
	)
	h := r.Middleware(whoami)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "http://nobody.app.example.com/", nil))
	assert.Equal(t, http.StatusTeapot, rec.Code)
	assert.ErrorIs(t, gotErr, resolve.ErrUnknownHost)

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "http://dormant.app.example.com/", nil))
	assert.Equal(t, http.StatusPaymentRequired, rec.Code)
	assert.Equal(t, "dormant", gotTenant)
}

func serve(h http.Handler, remote, host string, hdr map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("GET", "http://"+host+"/", nil)
	req.RemoteAddr = remote
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestForwardedHostsOnlyFromTrustedProxies(t *testing.T) {
	f := newFixture(t)
	r := f.resolver(t, resolve.WithTrustedProxies("10.0.0.0/8", "::1"))
	h := r.Middleware(whoami)
	cases := []struct {
		name, remote, host string
		hdr                map[string]string
		want               string
	}{
		{"an untrusted peer cannot spoof X-Forwarded-Host", "203.0.113.9:5555", "acme.app.example.com",
			map[string]string{"X-Forwarded-Host": "globex.app.example.com"}, "acme"},
		{"an untrusted peer cannot spoof Forwarded", "203.0.113.9:5555", "acme.app.example.com",
			map[string]string{"Forwarded": "host=globex.app.example.com"}, "acme"},
		{"a peer next to the trusted range is untrusted", "11.0.0.1:1", "acme.app.example.com",
			map[string]string{"X-Forwarded-Host": "globex.app.example.com"}, "acme"},
		{"an IPv4-mapped trusted peer is trusted", "[::ffff:10.1.2.3]:1", "proxy.internal",
			map[string]string{"X-Forwarded-Host": "globex.app.example.com"}, "globex"},
		{"a trusted proxy's X-Forwarded-Host is honoured", "10.1.2.3:4444", "proxy.internal",
			map[string]string{"X-Forwarded-Host": "globex.app.example.com"}, "globex"},
		{"the last X-Forwarded-Host value wins", "10.1.2.3:4444", "proxy.internal",
			map[string]string{"X-Forwarded-Host": "acme.app.example.com, globex.app.example.com"}, "globex"},
		{"Forwarded and X-Forwarded-Host naming the same host agree", "[::1]:4444", "proxy.internal",
			map[string]string{"Forwarded": `for=1.2.3.4;host="crm.acme.test:443"`, "X-Forwarded-Host": "CRM.acme.test"}, "acme"},
		{"a Forwarded element without host leaves X-Forwarded-Host to decide", "10.1.2.3:1", "proxy.internal",
			map[string]string{"Forwarded": "for=1.2.3.4;proto=https", "X-Forwarded-Host": "globex.app.example.com"}, "globex"},
		{"a client-written Forwarded element before the proxy's is ignored", "10.1.2.3:1", "proxy.internal",
			map[string]string{"Forwarded": "host=acme.app.example.com, host=globex.app.example.com"}, "globex"},
		{"a trusted proxy without forwarding headers uses Host", "10.1.2.3:4444", "acme.app.example.com", nil, "acme"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := serve(h, c.remote, c.host, c.hdr)
			assert.Equal(t, http.StatusOK, rec.Code)
			assert.Equal(t, c.want, rec.Body.String())
		})
	}
	rec := serve(h, "10.1.2.3:1", "acme.app.example.com", map[string]string{"X-Forwarded-Host": "127.0.0.1"})
	assert.Equal(t, http.StatusNotFound, rec.Code, "a forwarded host is normalised and validated like any other")
}

// A trusted proxy writes one of the two forwarding headers and may pass the
// other through from the client. Whichever it is, the resolver cannot tell
// which one the proxy wrote, so forwarded hosts that disagree, and
// forwarding headers it cannot read, are refused rather than guessed at or
// skipped in favour of the next source.
func TestAmbiguousForwardedHostsAreRefused(t *testing.T) {
	f := newFixture(t)
	audit := &tenanttest.AuditRecorder{}
	r := f.resolver(t, resolve.WithTrustedProxies("10.0.0.0/8"), resolve.WithAuditor(audit))
	h := r.Middleware(whoami)
	cases := []struct {
		name string
		hdr  map[string]string
	}{
		{"a client's Forwarded passed through beside the proxy's X-Forwarded-Host",
			map[string]string{"Forwarded": "host=globex.app.example.com", "X-Forwarded-Host": "acme.app.example.com"}},
		{"a client's X-Forwarded-Host passed through beside the proxy's Forwarded",
			map[string]string{"Forwarded": `for=192.0.2.1;host="acme.app.example.com"`, "X-Forwarded-Host": "globex.app.example.com"}},
		{"a Forwarded host and an X-Forwarded-Host that is no host",
			map[string]string{"Forwarded": "host=acme.app.example.com", "X-Forwarded-Host": "127.0.0.1"}},
		{"an unterminated quote in Forwarded does not fall back to X-Forwarded-Host",
			map[string]string{"Forwarded": `host="globex.app.example.com, host=acme.app.example.com`, "X-Forwarded-Host": "acme.app.example.com"}},
		{"an unterminated quote in Forwarded does not fall back to Host",
			map[string]string{"Forwarded": `for="1.2.3.4`}},
		{"two host parameters in one Forwarded element",
			map[string]string{"Forwarded": "host=acme.app.example.com;host=globex.app.example.com"}},
		{"a Forwarded parameter that is not a token",
			map[string]string{"Forwarded": "host=acme.app.example.com;fo r=x"}},
		{"a Forwarded host that is not a token",
			map[string]string{"Forwarded": "host=acme.app.example.com/evil"}},
		{"an empty last X-Forwarded-Host value",
			map[string]string{"X-Forwarded-Host": "globex.app.example.com, "}},
		{"an empty X-Forwarded-Host",
			map[string]string{"X-Forwarded-Host": " "}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := serve(h, "10.1.2.3:1", "acme.app.example.com", c.hdr)
			assert.Equal(t, http.StatusNotFound, rec.Code, rec.Body.String())
			req := httptest.NewRequest("GET", "http://acme.app.example.com/", nil)
			req.RemoteAddr = "10.1.2.3:1"
			for k, v := range c.hdr {
				req.Header.Set(k, v)
			}
			_, err := r.Host(req)
			assert.ErrorIs(t, err, resolve.ErrInvalidHost)
		})
	}
	assert.Contains(t, audit.Kinds(), tenant.EventUnknownHost)

	// From an untrusted peer the same headers are not read at all.
	for _, c := range cases {
		rec := serve(h, "203.0.113.9:1", "acme.app.example.com", c.hdr)
		assert.Equal(t, "acme", rec.Body.String(), c.name)
	}
}

func TestHeaderStrategy(t *testing.T) {
	f := newFixture(t)
	r := f.resolver(t, resolve.WithTrustedProxies("10.0.0.0/8"), resolve.WithHeader("X-Tenant"),
		resolve.WithStrategies(resolve.Header, resolve.CustomDomain, resolve.Subdomain))
	h := r.Middleware(whoami)
	assert.Equal(t, "globex", serve(h, "10.0.0.7:1", "acme.app.example.com", map[string]string{"X-Tenant": "globex"}).Body.String())
	assert.Equal(t, "acme", serve(h, "198.51.100.1:1", "acme.app.example.com", map[string]string{"X-Tenant": "globex"}).Body.String(),
		"an untrusted peer's header must be ignored")
	assert.Equal(t, http.StatusNotFound, serve(h, "10.0.0.7:1", "acme.app.example.com", map[string]string{"X-Tenant": "Globex"}).Code)
	assert.Equal(t, http.StatusNotFound, serve(h, "10.0.0.7:1", "acme.app.example.com", map[string]string{"X-Tenant": "../globex"}).Code)
	assert.Equal(t, http.StatusNotFound, serve(h, "10.0.0.7:1", "acme.app.example.com", map[string]string{"X-Tenant": "nobody"}).Code)
	assert.Equal(t, http.StatusForbidden, serve(h, "10.0.0.7:1", "acme.app.example.com", map[string]string{"X-Tenant": "dormant"}).Code)

	last := f.resolver(t, resolve.WithTrustedProxies("10.0.0.0/8"), resolve.WithHeader("X-Tenant"),
		resolve.WithStrategies(resolve.Subdomain, resolve.Header))
	h = last.Middleware(whoami)
	assert.Equal(t, "acme", serve(h, "10.0.0.7:1", "acme.app.example.com", map[string]string{"X-Tenant": "globex"}).Body.String(),
		"a header listed after the host strategies only fills in for unknown hosts")
	assert.Equal(t, "globex", serve(h, "10.0.0.7:1", "internal-svc", map[string]string{"X-Tenant": "globex"}).Body.String())
}

// A proxy that adds its own tenant header line but passes the client's
// through leaves two; the first would be the client's. Neither is chosen.
func TestSeveralTenantHeadersAreRefused(t *testing.T) {
	f := newFixture(t)
	for _, order := range [][]resolve.Strategy{
		{resolve.Header, resolve.CustomDomain, resolve.Subdomain},
		{resolve.Subdomain, resolve.Header},
		{resolve.Header},
	} {
		r := f.resolver(t, resolve.WithTrustedProxies("10.0.0.0/8"), resolve.WithHeader("X-Tenant"),
			resolve.WithStrategies(order...))
		for _, vals := range [][]string{{"globex", "acme"}, {"acme", "acme"}, {"globex", ""}} {
			req := httptest.NewRequest("GET", "http://internal-svc/", nil)
			req.RemoteAddr = "10.0.0.7:1"
			for _, v := range vals {
				req.Header.Add("X-Tenant", v)
			}
			rec := httptest.NewRecorder()
			r.Middleware(whoami).ServeHTTP(rec, req)
			assert.Equal(t, http.StatusNotFound, rec.Code, "strategies %v, headers %q: %s", order, vals, rec.Body.String())
		}
	}
}
