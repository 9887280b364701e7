package resolve_test

import (
	"context"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/resolve"
	"github.com/tenantwall/tenantwall/tenant"
)

func TestCertPolicy(t *testing.T) {
	f := newFixture(t)
	r := f.resolver(t)
	p := r.CertPolicy()
	ctx := context.Background()
	allowed := []string{"crm.acme.test", "acme.app.example.com", "globex.app.example.com"}
	for _, h := range allowed {
		assert.NoError(t, p.Allow(ctx, h), h)
	}
	refused := []string{
		"pending.globex.test", "gone.acme.test", "verified.acme.test", // not active
		"dormant.app.example.com", // suspended tenant
		"nobody.app.example.com", "www.app.example.com", "app.example.com", "a.acme.app.example.com",
		"crm.acme.test.evil.com", "evilcrm.acme.test", "acme.test", "xcrm.acme.test",
		"CRM.acme.test", "crm.acme.test.", "crm.acme.test:443", // exact canonical match only
		"127.0.0.1", "[::1]", "", "xn--crm-acme.test", "crm\x00.acme.test",
	}
	for _, h := range refused {
		assert.ErrorIs(t, p.Allow(ctx, h), resolve.ErrHostNotAllowed, "%q", h)
	}
	f.store.fail.Store(true)
	assert.ErrorIs(t, p.Allow(ctx, "crm.acme.test"), resolve.ErrHostNotAllowed, "a store error must deny")
	f.store.fail.Store(false)

	// Caddy's ask endpoint makes the same decision.
	h := p.AskHandler()
	for host, want := range map[string]int{"crm.acme.test": 200, "gone.acme.test": 403, "evil.example": 403} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/ask?domain="+host, nil))
		assert.Equal(t, want, rec.Code, host)
	}
	var hp func(context.Context, string) error = p.HostPolicy()
	assert.NoError(t, hp(ctx, "crm.acme.test"))
}

func TestCertPolicyRateLimitsARegisteredDomain(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, h := range []string{"a.shop.example.org", "b.shop.example.org", "c.shop.example.org"} {
		require.NoError(t, f.store.PutDomain(ctx, tenant.Domain{Host: h, TenantID: f.acme.ID, Status: tenant.DomainActive}))
	}
	r := f.resolver(t)
	p := r.CertPolicy(resolve.WithCertRate(2, time.Hour))
	assert.NoError(t, p.Allow(ctx, "a.shop.example.org"))
	assert.NoError(t, p.Allow(ctx, "b.shop.example.org"))
	assert.ErrorIs(t, p.Allow(ctx, "c.shop.example.org"), resolve.ErrHostNotAllowed, "a third certificate for example.org within the hour")
	assert.NoError(t, p.Allow(ctx, "crm.acme.test"), "another registered domain has its own budget")
}

// fakeDNS answers TXT and CNAME lookups from maps.
type fakeDNS struct {
	txt   map[string][]string
	cname map[string]string
	fail  error
}

func (d fakeDNS) LookupTXT(_ context.Context, name string) ([]string, error) {
	if d.fail != nil {
		return nil, d.fail
	}
	if v, ok := d.txt[name]; ok {
		return v, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func (d fakeDNS) LookupCNAME(_ context.Context, host string) (string, error) {
	if v, ok := d.cname[host]; ok {
		return v, nil
	}
	return "", &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func TestVerifier(t *testing.T) {
	secret := []byte(strings.Repeat("s", 32))
	dns := fakeDNS{txt: map[string][]string{}, cname: map[string]string{}}
	v, err := resolve.NewVerifier(dns, secret, "app.example.com")
	require.NoError(t, err)
	ctx := context.Background()
	a, b := tenant.NewID(), tenant.NewID()
	d := tenant.Domain{Host: "crm.client.com", TenantID: a, Status: tenant.DomainPending}
	assert.Equal(t, "_tenantwall-challenge.crm.client.com", v.RecordName("crm.client.com"))
	assert.ErrorIs(t, v.Verify(ctx, d), resolve.ErrUnverified)

	dns.txt["_tenantwall-challenge.crm.client.com"] = []string{"unrelated", v.Token(b, "crm.client.com")}
	assert.ErrorIs(t, v.Verify(ctx, d), resolve.ErrUnverified, "another tenant's token proves nothing")
	dns.txt["_tenantwall-challenge.crm.client.com"] = []string{v.Token(a, "crm.client.com")}
	assert.NoError(t, v.Verify(ctx, d))
	assert.NotEqual(t, v.Token(a, "crm.client.com"), v.Token(a, "other.client.com"))

	d2 := tenant.Domain{Host: "portal.partner.com", TenantID: a}
	dns.cname["portal.partner.com"] = "APP.example.com."
	assert.NoError(t, v.Verify(ctx, d2), "a CNAME to the platform proves control")
	dns.cname["portal.partner.com"] = "app.example.com.evil.com."
	assert.ErrorIs(t, v.Verify(ctx, d2), resolve.ErrUnverified)

	other, _ := resolve.NewVerifier(dns, []byte(strings.Repeat("x", 32)), "")
	assert.NotEqual(t, v.Token(a, "crm.client.com"), other.Token(a, "crm.client.com"), "tokens depend on the platform secret")
	_, err = resolve.NewVerifier(dns, []byte("short"), "")
	assert.ErrorIs(t, err, resolve.ErrConfig)
}

func TestReverifyDeactivatesDomainsThatLeft(t *testing.T) {
	ctx := context.Background()
	store := tenant.NewMemStore()
	acme := tenant.Tenant{ID: tenant.NewID(), Slug: "acme", Name: "Acme", Status: tenant.StatusActive}
	require.NoError(t, store.Create(ctx, acme))
	for _, h := range []string{"kept.acme.com", "gone.acme.com", "flaky.acme.com"} {
		require.NoError(t, store.PutDomain(ctx, tenant.Domain{Host: h, TenantID: acme.ID, Status: tenant.DomainActive}))
	}
	dns := fakeDNS{txt: map[string][]string{}, cname: map[string]string{}}
	v, _ := resolve.NewVerifier(dns, []byte(strings.Repeat("k", 32)), "")
	dns.txt["_tenantwall-challenge.kept.acme.com"] = []string{v.Token(acme.ID, "kept.acme.com")}
	removed, err := v.Reverify(ctx, store)
	require.NoError(t, err)
	require.Len(t, removed, 2)
	ds, _ := store.Domains(ctx, acme.ID)
	status := map[string]tenant.DomainStatus{}
	for _, d := range ds {
		status[d.Host] = d.Status
	}
	assert.Equal(t, tenant.DomainActive, status["kept.acme.com"])
	assert.Equal(t, tenant.DomainRemoved, status["gone.acme.com"])

	// A DNS outage is not proof of departure.
	require.NoError(t, store.PutDomain(ctx, tenant.Domain{Host: "flaky.acme.com", TenantID: acme.ID, Status: tenant.DomainActive}))
	outage := fakeDNS{fail: &net.DNSError{Err: "i/o timeout", IsTimeout: true}}
	v2, _ := resolve.NewVerifier(outage, []byte(strings.Repeat("k", 32)), "")
	removed, err = v2.Reverify(ctx, store)
	require.NoError(t, err)
	assert.Empty(t, removed)
}

func TestExplain(t *testing.T) {
	f := newFixture(t)
	r := f.resolver(t)
	ctx := context.Background()
	cases := map[string]string{
		"CRM.acme.test":           "an active custom domain",
		"acme.app.example.com":    "one label under the base domain",
		"dormant.app.example.com": "suspended",
		"pending.globex.test":     "pending, only active domains serve",
		"globex.app.example.com":  "one label under the base domain", // the stray record is ignored
		"app.example.com":         "the base domain itself",
		"a.acme.app.example.com":  "not exactly one label",
		"www.example.org":         "no custom domain",
		"127.0.0.1":               "not a valid DNS name",
	}
	for host, want := range cases {
		e := r.Explain(ctx, host)
		assert.Contains(t, e.String(), want, host)
	}
	e := r.Explain(ctx, "CRM.acme.test")
	require.NotNil(t, e.Tenant)
	assert.Equal(t, f.acme.ID, e.Tenant.ID)
	assert.Equal(t, "crm.acme.test", e.Normalized)
}
