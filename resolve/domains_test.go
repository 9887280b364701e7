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
	"github.com/tenantwall/tenantwall/tenant/tenanttest"
)

func TestCertPolicy(t *testing.T) {
	f := newFixture(t)
	r := f.resolver(t)
	p, err := r.CertPolicy()
	require.NoError(t, err)
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
	p, err := r.CertPolicy(resolve.WithCertRate(2, time.Hour))
	require.NoError(t, err)
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
	dns.cname["portal.partner.com"] = strings.ToUpper(v.CNAMETarget(a, "portal.partner.com")) + "."
	assert.NoError(t, v.Verify(ctx, d2), "a CNAME to the tenant's target proves control")
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
	for host, want := range map[string]error{
		"CRM.acme.test":           nil,
		"dormant.app.example.com": resolve.ErrSuspended,
		"pending.globex.test":     resolve.ErrUnknownHost,
		"www.example.org":         resolve.ErrUnknownHost,
		"127.0.0.1":               resolve.ErrIPLiteral,
	} {
		_, resolveErr := r.Resolve(ctx, host)
		e := r.Explain(ctx, host)
		if want == nil {
			assert.NoError(t, e.Err, host)
		} else {
			assert.ErrorIs(t, e.Err, want, host)
		}
		assert.Equal(t, resolveErr == nil, e.Err == nil, "%s: Explain's Err agrees with Resolve", host)
	}
	e := r.Explain(ctx, "CRM.acme.test")
	require.NotNil(t, e.Tenant)
	assert.Equal(t, f.acme.ID, e.Tenant.ID)
	assert.Equal(t, "crm.acme.test", e.Normalized)
}

// A CNAME proves only that a name points at the platform, which every
// custom domain of every tenant does. It must not let one tenant verify a
// name another tenant (or a departed one) pointed at the platform.
func TestVerifierCNAMEProofIsBoundToTheTenant(t *testing.T) {
	secret := []byte(strings.Repeat("s", 32))
	dns := fakeDNS{txt: map[string][]string{}, cname: map[string]string{}}
	v, err := resolve.NewVerifier(dns, secret, "app.example.com")
	require.NoError(t, err)
	ctx := context.Background()
	victim, attacker := tenant.NewID(), tenant.NewID()
	const host = "crm.victim.com"
	own := v.CNAMETarget(victim, host)
	require.NotEmpty(t, own)
	assert.True(t, strings.HasSuffix(own, ".app.example.com"), own)
	norm, err := resolve.Normalize(own)
	require.NoError(t, err)
	assert.Equal(t, own, norm, "the target is a canonical host name")
	assert.NotEqual(t, own, v.CNAMETarget(attacker, host), "each tenant has its own target")
	assert.NotEqual(t, own, v.CNAMETarget(victim, "other.victim.com"), "each host has its own target")
	assert.NotContains(t, own, strings.TrimPrefix(v.Token(victim, host), "tenantwall-verification="),
		"the CNAME label must not reveal the TXT token")

	cases := []struct {
		name   string
		cname  string
		tenant string
		ok     bool
	}{
		{"the tenant's own target proves control", own, victim, true},
		{"the tenant's own target in another spelling proves control", strings.ToUpper(own) + ".", victim, true},
		{"a CNAME to the bare platform target proves nothing", "app.example.com.", attacker, false},
		{"a CNAME to the bare platform target proves nothing even for the owner", "app.example.com", victim, false},
		{"another tenant's target proves nothing", own, attacker, false},
		{"another host's target proves nothing", v.CNAMETarget(attacker, "other.victim.com"), attacker, false},
		{"a look-alike under another domain proves nothing", own + ".evil.com", victim, false},
		{"a deeper name under the target proves nothing", "x." + own, victim, false},
		{"the host itself (no CNAME) proves nothing", host, victim, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dns.cname[host] = c.cname
			err := v.Verify(ctx, tenant.Domain{Host: host, TenantID: c.tenant, Status: tenant.DomainPending})
			if c.ok {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, resolve.ErrUnverified)
			}
		})
	}

	noTarget, err := resolve.NewVerifier(dns, secret, "")
	require.NoError(t, err)
	assert.Empty(t, noTarget.CNAMETarget(victim, host), "without a target there is no CNAME proof")
}

func TestVerifierRefusesADomainWithoutAValidTenant(t *testing.T) {
	secret := []byte(strings.Repeat("s", 32))
	dns := fakeDNS{txt: map[string][]string{}, cname: map[string]string{}}
	v, err := resolve.NewVerifier(dns, secret, "")
	require.NoError(t, err)
	const host = "crm.client.com"
	for _, id := range []string{"", "ACME", strings.ToUpper(tenant.NewID()), tenant.NewID() + "\x00"} {
		dns.txt[v.RecordName(host)] = []string{v.Token(id, host)}
		err := v.Verify(context.Background(), tenant.Domain{Host: host, TenantID: id})
		assert.ErrorIs(t, err, resolve.ErrUnverified, "tenant %q", id)
		assert.ErrorIs(t, err, tenant.ErrInvalidID, "tenant %q", id)
	}
}

// A failed CNAME lookup is a DNS outage, not proof that a domain left.
func TestReverifyKeepsADomainWhenTheCNAMELookupFails(t *testing.T) {
	ctx := context.Background()
	store := tenant.NewMemStore()
	acme := tenanttest.NewTenant("acme")
	require.NoError(t, store.Create(ctx, acme))
	const host = "portal.acme.com"
	require.NoError(t, store.PutDomain(ctx, tenant.Domain{Host: host, TenantID: acme.ID, Status: tenant.DomainActive}))
	dns := &flakyCNAME{fakeDNS: fakeDNS{txt: map[string][]string{}, cname: map[string]string{}}}
	v, err := resolve.NewVerifier(dns, []byte(strings.Repeat("k", 32)), "app.example.com")
	require.NoError(t, err)
	removed, err := v.Reverify(ctx, store)
	require.NoError(t, err)
	assert.Empty(t, removed)
	_, d, err := store.ByDomain(ctx, host)
	require.NoError(t, err)
	assert.Equal(t, tenant.DomainActive, d.Status)
}

// flakyCNAME has no TXT records and times out on every CNAME lookup.
type flakyCNAME struct{ fakeDNS }

func (*flakyCNAME) LookupCNAME(_ context.Context, host string) (string, error) {
	return "", &net.DNSError{Err: "i/o timeout", Name: host, IsTimeout: true}
}

// A rate limit that cannot be applied must not mean "no limit": it is a
// configuration error, and a policy not built by Resolver.CertPolicy
// admits nothing.
func TestCertPolicyRefusesAnInvalidRate(t *testing.T) {
	f := newFixture(t)
	r := f.resolver(t)
	for _, c := range []struct {
		name   string
		n      int
		window time.Duration
	}{
		{"a negative window", 10, -time.Hour},
		{"a zero window", 10, 0},
		{"a zero count", 0, time.Hour},
		{"a negative count", -1, time.Hour},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := r.CertPolicy(resolve.WithCertRate(c.n, c.window))
			require.ErrorIs(t, err, resolve.ErrConfig)
			assert.Contains(t, err.Error(), "WithCertRate", "the error names the option")
			assert.Nil(t, p)
		})
	}
	t.Run("a zero CertPolicy admits nothing", func(t *testing.T) {
		var p resolve.CertPolicy
		err := p.Allow(context.Background(), "crm.acme.test")
		assert.ErrorIs(t, err, resolve.ErrHostNotAllowed)
		assert.ErrorIs(t, err, resolve.ErrConfig)
	})
}
