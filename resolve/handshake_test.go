package resolve_test

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/resolve"
	"github.com/tenantwall/tenantwall/tenant"
)

// served is a wrapped GetCertificate that records the names it was asked
// for and always has a certificate.
type served struct{ names []string }

func (s *served) get(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	s.names = append(s.names, hello.ServerName)
	return &tls.Certificate{}, nil
}

func hello(name string) *tls.ClientHelloInfo { return &tls.ClientHelloInfo{ServerName: name} }

func TestGetCertificateServesOnlyActiveTenantHosts(t *testing.T) {
	f := newFixture(t)
	r := f.resolver(t)
	p, err := r.CertPolicy(resolve.WithPlatformHosts("platform.app.example.com"))
	require.NoError(t, err)
	var s served
	get := p.GetCertificate(s.get)

	for _, h := range []string{"crm.acme.test", "acme.app.example.com", "platform.app.example.com"} {
		_, err := get(hello(h))
		assert.NoError(t, err, h)
	}
	_, err = get(hello("CRM.Acme.Test."))
	assert.NoError(t, err, "a server name is normalised")
	assert.Equal(t, []string{"crm.acme.test", "acme.app.example.com", "platform.app.example.com", "crm.acme.test"}, s.names,
		"the wrapped function sees canonical names only")

	s.names = nil
	for _, h := range []string{"", "pending.globex.test", "gone.acme.test", "verified.acme.test", "dormant.app.example.com",
		"nobody.app.example.com", "app.example.com", "a.acme.app.example.com", "127.0.0.1", "crm.acme.test.evil.com", "bad_name.test"} {
		_, err := get(hello(h))
		assert.ErrorIs(t, err, resolve.ErrHostNotAllowed, "%q", h)
	}
	assert.Empty(t, s.names, "no refused name reaches the wrapped function")

	t.Run("a domain removed or a tenant suspended loses its certificate at once", func(t *testing.T) {
		ctx := context.Background()
		require.NoError(t, f.store.PutDomain(ctx, tenant.Domain{Host: "crm.acme.test", TenantID: f.acme.ID, Status: tenant.DomainRemoved}))
		r.InvalidateHost("crm.acme.test")
		_, err := get(hello("crm.acme.test"))
		assert.ErrorIs(t, err, resolve.ErrHostNotAllowed)

		_, err = get(hello("globex.app.example.com"))
		require.NoError(t, err)
		g := f.globex
		g.Status = tenant.StatusSuspended
		require.NoError(t, f.store.Update(ctx, g))
		_, err = get(hello("globex.app.example.com"))
		assert.NoError(t, err, "until invalidated, the cached answer holds")
		r.InvalidateTenant(g.ID)
		_, err = get(hello("globex.app.example.com"))
		assert.ErrorIs(t, err, resolve.ErrHostNotAllowed)
	})
}

func TestHandshakeStormIsRateLimited(t *testing.T) {
	f := newFixture(t)
	r := f.resolver(t)
	p, err := r.CertPolicy(resolve.WithHandshakeRate(5, time.Hour))
	require.NoError(t, err)
	var s served
	get := p.GetCertificate(s.get)
	_, err = get(hello("crm.acme.test")) // warms the cache: one lookup
	require.NoError(t, err)
	before := f.store.lookups.Load()

	for i := range 500 {
		_, err := get(hello(fmt.Sprintf("r%d.storm.example", i)))
		require.ErrorIs(t, err, resolve.ErrHostNotAllowed)
	}
	assert.Equal(t, int64(4), f.store.lookups.Load()-before, "the budget of 5 lookups, one spent on warming, bounds the store's work")
	_, err = get(hello("crm.acme.test"))
	assert.NoError(t, err, "a host already known is served through the storm")
	_, err = get(hello("globex.app.example.com"))
	assert.ErrorIs(t, err, resolve.ErrHostNotAllowed, "an uncached host waits for the budget to refill")
	assert.Equal(t, []string{"crm.acme.test", "crm.acme.test"}, s.names)
}

func TestCertPolicyAnswersFromMemoryWhenTheStoreIsSlow(t *testing.T) {
	f := newFixture(t)
	r := f.resolver(t)
	p, err := r.CertPolicy(resolve.WithCertLookupTimeout(50 * time.Millisecond))
	require.NoError(t, err)
	ctx := context.Background()
	_, err = r.Resolve(ctx, "crm.acme.test") // a request put it in memory
	require.NoError(t, err)
	_, err = r.Resolve(ctx, "nobody.app.example.com")
	require.Error(t, err)

	gate := make(chan struct{})
	f.store.gate = gate
	t.Cleanup(func() { close(gate) })
	ask := p.AskHandler()
	for host, want := range map[string]int{
		"crm.acme.test":          http.StatusOK,        // cached, active
		"nobody.app.example.com": http.StatusForbidden, // cached, unknown
		"globex.app.example.com": http.StatusForbidden, // not cached: refused, never admitted blind
	} {
		start := time.Now()
		rec := httptest.NewRecorder()
		ask.ServeHTTP(rec, httptest.NewRequest("GET", "/ask?domain="+host, nil))
		assert.Equal(t, want, rec.Code, host)
		assert.Less(t, time.Since(start), 2*time.Second, "%s: answered within the lookup timeout, not the store's", host)
	}
	r.InvalidateHost("crm.acme.test")
	assert.ErrorIs(t, p.Allow(ctx, "crm.acme.test"), resolve.ErrHostNotAllowed, "an invalidated answer is not used")
}

func TestAskHandlerFollowsCaddysContract(t *testing.T) {
	f := newFixture(t)
	p, err := f.resolver(t).CertPolicy()
	require.NoError(t, err)
	h := p.AskHandler()
	for _, c := range []struct {
		method, target string
		want           int
	}{
		{"GET", "/ask?domain=crm.acme.test", 200},
		{"GET", "/ask?domain=crm.acme.test&domain=crm.acme.test", 400},
		{"GET", "/ask", 400},
		{"GET", "/ask?domain=%zz", 400},
		{"GET", "/ask?domain=", 403},
		{"GET", "/ask?domain=pending.globex.test", 403},
		{"POST", "/ask?domain=crm.acme.test", 405},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(c.method, c.target, nil))
		assert.Equal(t, c.want, rec.Code, "%s %s", c.method, c.target)
		assert.Empty(t, rec.Header().Get("Location"), "never a redirect")
	}
}

func TestCertPolicyRefusesInvalidHandshakeOptions(t *testing.T) {
	f := newFixture(t)
	r := f.resolver(t)
	for name, opt := range map[string]resolve.CertPolicyOption{
		"zero lookup timeout":   resolve.WithCertLookupTimeout(0),
		"zero handshake rate":   resolve.WithHandshakeRate(0, time.Second),
		"zero handshake window": resolve.WithHandshakeRate(1, 0),
		"invalid platform host": resolve.WithPlatformHosts("not a host"),
	} {
		_, err := r.CertPolicy(opt)
		assert.ErrorIs(t, err, resolve.ErrConfig, name)
	}
	var zero resolve.CertPolicy
	_, err := zero.GetCertificate((&served{}).get)(hello("crm.acme.test"))
	assert.ErrorIs(t, err, resolve.ErrHostNotAllowed, "a zero CertPolicy serves nothing")
}

// acmeCA is the CA side the order guard talks to: it answers the
// directory and records every request that reaches it.
type acmeCA struct{ got []string }

func (c *acmeCA) RoundTrip(req *http.Request) (*http.Response, error) {
	c.got = append(c.got, req.Method+" "+req.URL.Path)
	body := "{}"
	if req.URL.Path == "/dir" {
		body = `{"newOrder":"https://ca.test/order","newAuthz":"https://ca.test/authz","newAccount":"https://ca.test/acct"}`
	}
	if req.Body != nil {
		_, _ = io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader(body)), Header: http.Header{}, Request: req}, nil
}

// jws is a flattened JWS with the given payload (unsigned: the guard
// reads, the CA verifies).
func jws(payload any) string {
	b, _ := json.Marshal(payload)
	out, _ := json.Marshal(map[string]string{"protected": "e30", "payload": base64.RawURLEncoding.EncodeToString(b), "signature": "c2ln"})
	return string(out)
}

func order(names ...string) string {
	var ids []map[string]string
	for _, n := range names {
		ids = append(ids, map[string]string{"type": "dns", "value": n})
	}
	return jws(map[string]any{"identifiers": ids})
}

func TestOrderGuardSendsOrdersForServedNamesOnly(t *testing.T) {
	f := newFixture(t)
	p, err := f.resolver(t).CertPolicy()
	require.NoError(t, err)
	ca := &acmeCA{}
	rt, err := p.OrderGuard("https://ca.test/dir", ca)
	require.NoError(t, err)
	c := &http.Client{Transport: rt}
	post := func(url, body string) error {
		resp, err := c.Post(url, "application/jose+json", strings.NewReader(body))
		if err == nil {
			resp.Body.Close()
		}
		return err
	}

	assert.ErrorIs(t, post("https://ca.test/order", order("crm.acme.test")), resolve.ErrHostNotAllowed,
		"before the directory is read, no POST leaves")
	resp, err := c.Get("https://ca.test/dir")
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Contains(t, string(b), "newOrder", "the directory reaches the client unchanged")

	assert.NoError(t, post("https://ca.test/acct", jws(map[string]any{"termsOfServiceAgreed": true})))
	assert.NoError(t, post("https://ca.test/order", order("crm.acme.test")))
	assert.NoError(t, post("https://ca.test/order", order("crm.acme.test", "acme.app.example.com")))
	for name, body := range map[string]string{
		"a pending domain":            order("pending.globex.test"),
		"a removed domain":            order("gone.acme.test"),
		"a suspended tenant":          order("dormant.app.example.com"),
		"one bad name among good":     order("crm.acme.test", "evil.example"),
		"a non-canonical name":        order("CRM.acme.test"),
		"no identifiers":              jws(map[string]any{"identifiers": []any{}}),
		"an IP identifier":            jws(map[string]any{"identifiers": []map[string]string{{"type": "ip", "value": "127.0.0.1"}}}),
		"a payload that is not JSON":  `{"protected":"e30","payload":"bm90IGpzb24","signature":"c2ln"}`,
		"a payload that is not b64":   `{"protected":"e30","payload":"!!","signature":"c2ln"}`,
		"no payload":                  `{"protected":"e30","signature":"c2ln"}`,
		"a body that is not a JWS":    `not json`,
		"an oversized body":           strings.Repeat(" ", 70<<10) + order("crm.acme.test"),
		"a wildcard of a served host": order("*.acme.app.example.com"),
	} {
		assert.ErrorIs(t, post("https://ca.test/order", body), resolve.ErrHostNotAllowed, name)
	}
	assert.ErrorIs(t, post("https://ca.test/authz", jws(map[string]any{"identifier": map[string]string{"type": "dns", "value": "crm.acme.test"}})),
		resolve.ErrHostNotAllowed, "pre-authorization is refused")
	assert.Equal(t, []string{"GET /dir", "POST /acct", "POST /order", "POST /order"}, ca.got, "only the allowed requests reached the CA")

	_, err = p.OrderGuard("http://ca.test/dir", nil)
	assert.ErrorIs(t, err, resolve.ErrConfig, "an ACME directory is reached over HTTPS only")
}

func TestOrdersAreCountedNotHandshakes(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, h := range []string{"a.shop.example.org", "b.shop.example.org", "c.shop.example.org"} {
		require.NoError(t, f.store.PutDomain(ctx, tenant.Domain{Host: h, TenantID: f.acme.ID, Status: tenant.DomainActive}))
	}
	p, err := f.resolver(t).CertPolicy(resolve.WithCertRate(2, time.Hour))
	require.NoError(t, err)
	hp := p.HostPolicy()
	for range 20 {
		require.NoError(t, hp(ctx, "a.shop.example.org"), "autocert asks on every handshake; that spends nothing")
	}
	assert.ErrorIs(t, hp(ctx, "A.shop.example.org"), resolve.ErrHostNotAllowed, "canonical names only")
	assert.ErrorIs(t, hp(ctx, "pending.globex.test"), resolve.ErrHostNotAllowed)

	ca := &acmeCA{}
	rt, err := p.OrderGuard("https://ca.test/dir", ca)
	require.NoError(t, err)
	c := &http.Client{Transport: rt}
	resp, err := c.Get("https://ca.test/dir")
	require.NoError(t, err)
	resp.Body.Close()
	post := func(names ...string) error {
		resp, err := c.Post("https://ca.test/order", "application/jose+json", strings.NewReader(order(names...)))
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	assert.NoError(t, post("a.shop.example.org"))
	assert.NoError(t, post("b.shop.example.org"))
	assert.ErrorIs(t, post("c.shop.example.org"), resolve.ErrHostNotAllowed, "a third order for example.org within the hour")
	assert.NoError(t, post("crm.acme.test"), "another registered domain has its own budget")
	assert.Equal(t, 4, len(ca.got), "the directory and three orders reached the CA")
}

// Caddy asks the ask endpoint on every handshake for a name it holds no
// certificate for, so a storm of made-up SNI names through Caddy is a
// storm of asks: they must be bounded by the same handshake budget as
// GetCertificate, not each cost a store lookup.
func TestAskStormIsRateLimited(t *testing.T) {
	f := newFixture(t)
	r := f.resolver(t)
	p, err := r.CertPolicy(resolve.WithHandshakeRate(5, time.Hour))
	require.NoError(t, err)
	_, err = r.Resolve(context.Background(), "crm.acme.test") // a request put it in memory
	require.NoError(t, err)
	before := f.store.lookups.Load()
	ask := p.AskHandler()
	for i := range 500 {
		rec := httptest.NewRecorder()
		ask.ServeHTTP(rec, httptest.NewRequest("GET", fmt.Sprintf("/ask?domain=r%d.storm.example", i), nil))
		require.Equal(t, http.StatusForbidden, rec.Code)
	}
	assert.LessOrEqual(t, f.store.lookups.Load()-before, int64(5), "the handshake budget bounds the store lookups of the ask endpoint")
	rec := httptest.NewRecorder()
	ask.ServeHTTP(rec, httptest.NewRequest("GET", "/ask?domain=crm.acme.test", nil))
	assert.Equal(t, http.StatusOK, rec.Code, "a host already known is admitted through the storm")
}

// Allow shares one store lookup among concurrent callers; a caller that
// arrives after an invalidation (a suspension) must not be handed the
// answer of a lookup that read the store before it, or the ask endpoint
// says yes for a tenant suspended a moment ago and the proxy orders a
// certificate for it.
func TestAllowAfterAnInvalidationDoesNotJoinAnOlderLookup(t *testing.T) {
	f := newFixture(t)
	slow := &slowFirstLookup{MemStore: f.store.MemStore, read: make(chan struct{}), gate: make(chan struct{})}
	r, err := resolve.New(slow, resolve.WithBaseDomain("app.example.com"), resolve.WithAuditor(discard{}))
	require.NoError(t, err)
	p, err := r.CertPolicy(resolve.WithCertLookupTimeout(10 * time.Second))
	require.NoError(t, err)
	ctx := context.Background()
	first := make(chan error, 1)
	go func() { first <- p.Allow(ctx, "acme.app.example.com") }()
	<-slow.read // the first lookup read the tenant as active and has not answered yet

	acme := f.acme
	acme.Status = tenant.StatusSuspended
	require.NoError(t, f.store.MemStore.Update(ctx, acme))
	require.NoError(t, r.InvalidateTenant(acme.ID))

	second := make(chan error, 1)
	go func() { second <- p.Allow(ctx, "acme.app.example.com") }()
	select {
	case err := <-second: // a correct policy answers without waiting for the older lookup
		assert.ErrorIs(t, err, resolve.ErrHostNotAllowed, "a suspended tenant is admitted")
		close(slow.gate)
	case <-time.After(200 * time.Millisecond):
		close(slow.gate)
		assert.ErrorIs(t, <-second, resolve.ErrHostNotAllowed, "the call after the suspension got the older lookup's answer")
	}
	<-first
}
