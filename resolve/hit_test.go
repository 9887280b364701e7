package resolve_test

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/resolve"
	"github.com/tenantwall/tenantwall/tenant"
)

// hitHosts are raw hosts for the cache-hit tests: canonical hosts that
// are cached, other spellings of them, the spelling of a header-strategy
// key, and malformed or hostile input. The hit path looks the host up as
// sent before normalising; none of these may get an answer that the
// normalise-then-look-up path would not give.
var hitHosts = []string{
	"acme.app.example.com",
	"acme.app.example.com:443",
	"acme.app.example.com:",
	"acme.app.example.com:0443",
	"acme.app.example.com:99999",
	"acme.app.example.com:123456",
	"acme.app.example.com:44a",
	"acme.app.example.com:-1",
	"acme.app.example.com::443",
	"acme.app.example.com.",
	"acme.app.example.com.:443",
	"acme.app.example.com..",
	"ACME.app.example.com",
	"ａｃｍｅ.app.example.com",
	"acme。app。example。com",
	" acme.app.example.com",
	"acme.app.example.com ",
	"acme.app.example.com\x00",
	"acme.app.example.com\n",
	"acme.app.example.com/",
	"acme.app.example.com@evil.com",
	"crm.acme.test",
	"CRM.acme.test:8443",
	"dormant.app.example.com",
	"dormant.app.example.com:80",
	"nobody.app.example.com",
	"nobody.app.example.com:80",
	"gone.acme.test",
	"globex.app.example.com",
	// Header-strategy keys are "#" + slug in the same cache; a Host that
	// spells one must never reach it.
	"#acme",
	"#acme:80",
	"#dormant",
	"#globex",
	"#",
	"",
	":",
	":443",
	"[::1]:443",
	"::1",
	"127.0.0.1",
	"127.0.0.1:80",
	"xn--bcher-kva.example",
	"xn--a.example",
	"acme.app.example.com" + strings.Repeat("0", 1100),
	strings.Repeat("a", 1025),
}

// warmResolver has every canonical fixture host and the header key of
// each fixture slug in its cache (positive, suspended and negative).
func warmResolver(t testing.TB, f *fixture) *resolve.Resolver {
	t.Helper()
	r, err := resolve.New(f.store, resolve.WithBaseDomain("app.example.com"), resolve.WithAuditor(discard{}),
		resolve.WithTrustedProxies("10.0.0.0/8"), resolve.WithHeader("X-Tenant"),
		resolve.WithStrategies(resolve.Header, resolve.CustomDomain, resolve.Subdomain))
	require.NoError(t, err)
	ctx := context.Background()
	for _, h := range []string{"acme.app.example.com", "crm.acme.test", "dormant.app.example.com",
		"nobody.app.example.com", "gone.acme.test", "globex.app.example.com"} {
		_, _ = r.Resolve(ctx, h)
	}
	h := r.Middleware(whoami)
	for _, slug := range []string{"acme", "dormant", "globex"} {
		serve(h, "10.0.0.7:1", "internal-svc", map[string]string{"X-Tenant": slug})
	}
	return r
}

// coldResolver has the same strategies and no cache, so every answer is
// normalise-then-look-up.
func coldResolver(t testing.TB, f *fixture) *resolve.Resolver {
	t.Helper()
	r, err := resolve.New(f.store, resolve.WithBaseDomain("app.example.com"), resolve.WithAuditor(discard{}),
		resolve.WithTrustedProxies("10.0.0.0/8"), resolve.WithHeader("X-Tenant"),
		resolve.WithStrategies(resolve.Header, resolve.CustomDomain, resolve.Subdomain), resolve.WithCache(0, 0, 0))
	require.NoError(t, err)
	return r
}

func sameAnswer(t testing.TB, warm, cold *resolve.Resolver, host string) {
	t.Helper()
	ctx := context.Background()
	gotW, errW := warm.Resolve(ctx, host)
	gotC, errC := cold.Resolve(ctx, host)
	assert.Equal(t, gotC.ID, gotW.ID, "host %q: tenant", host)
	if errC == nil {
		assert.NoError(t, errW, "host %q", host)
		return
	}
	if assert.Error(t, errW, "host %q", host) {
		assert.Equal(t, errC.Error(), errW.Error(), "host %q: error", host)
	}
}

func TestACacheHitAnswersAsNormalisingWould(t *testing.T) {
	f := newFixture(t)
	warm, cold := warmResolver(t, f), coldResolver(t, f)
	for _, h := range hitHosts {
		sameAnswer(t, warm, cold, h)
	}

	t.Run("a Host spelling a header key never gets that key's tenant", func(t *testing.T) {
		for _, h := range []string{"#acme", "#globex", "#dormant", "#acme:443"} {
			got, err := warm.Resolve(context.Background(), h)
			assert.ErrorIs(t, err, resolve.ErrInvalidHost, h)
			assert.Empty(t, got.ID, h)
		}
	})
	t.Run("the same holds through the middleware, for forwarded hosts too", func(t *testing.T) {
		h := warm.Middleware(whoami)
		for _, c := range []struct {
			name, host string
			hdr        map[string]string
		}{
			{"a Host of #acme", "#acme", nil},
			{"an X-Forwarded-Host of #acme", "internal-svc", map[string]string{"X-Forwarded-Host": "#acme"}},
			{"a Forwarded host of #acme", "internal-svc", map[string]string{"Forwarded": `host="#acme"`}},
		} {
			req := httptest.NewRequest("GET", "http://x/", nil)
			req.Host, req.RemoteAddr = c.host, "10.0.0.7:1"
			for k, v := range c.hdr {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			assert.Equal(t, http.StatusNotFound, rec.Code, c.name)
		}
	})
}

// FuzzCacheHit checks that a warm cache answers every host exactly as an
// uncached resolver does: same tenant, same error.
func FuzzCacheHit(f *testing.F) {
	for _, h := range hitHosts {
		f.Add(h)
	}
	fx := newFixture(f)
	warm, cold := warmResolver(f, fx), coldResolver(f, fx)
	f.Fuzz(func(t *testing.T, host string) {
		sameAnswer(t, warm, cold, host)
	})
}

// The TTL holds exactly: the clock is read on every hit, so an entry
// answers until the nanosecond before its expiry and never at it.
func TestCacheEntriesExpireExactlyAtTheirTTL(t *testing.T) {
	const ttl, negTTL = time.Minute, 5 * time.Second
	for _, c := range []struct {
		name   string
		host   string
		ttl    time.Duration
		change func(t *testing.T, f *fixture)
		before error // answer while cached
		after  error // answer once expired
	}{
		{"an active tenant suspended in the store is refused from the TTL on", "acme.app.example.com", ttl,
			func(t *testing.T, f *fixture) {
				acme := f.acme
				acme.Status = tenant.StatusSuspended
				require.NoError(t, f.store.Update(context.Background(), acme))
			}, nil, resolve.ErrSuspended},
		{"a suspended tenant reactivated in the store is served from the TTL on", "dormant.app.example.com", ttl,
			func(t *testing.T, f *fixture) {
				d := f.dormant
				d.Status = tenant.StatusActive
				require.NoError(t, f.store.Update(context.Background(), d))
			}, resolve.ErrSuspended, nil},
		{"a custom domain removed in the store stops serving from the TTL on", "crm.acme.test", ttl,
			func(t *testing.T, f *fixture) {
				require.NoError(t, f.store.PutDomain(context.Background(),
					tenant.Domain{Host: "crm.acme.test", TenantID: f.acme.ID, Status: tenant.DomainRemoved}))
			}, nil, resolve.ErrUnknownHost},
		{"an unknown host created in the store resolves from the negative TTL on", "pending.globex.test", negTTL,
			func(t *testing.T, f *fixture) {
				require.NoError(t, f.store.PutDomain(context.Background(),
					tenant.Domain{Host: "pending.globex.test", TenantID: f.globex.ID, Status: tenant.DomainActive}))
			}, resolve.ErrUnknownHost, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			var now atomic.Int64
			now.Store(1_000)
			r := f.resolver(t, resolve.WithCache(100, ttl, negTTL))
			resolve.SetClock(r, now.Load)
			ctx := context.Background()
			_, err := r.Resolve(ctx, c.host)
			requireErrorIs(t, c.before, err)
			c.change(t, f)

			now.Add(int64(c.ttl) - 1)
			_, err = r.Resolve(ctx, c.host)
			requireErrorIs(t, c.before, err)
			_, err = r.Resolve(ctx, strings.ToUpper(c.host)+":443")
			requireErrorIs(t, c.before, err)

			now.Add(1)
			_, err = r.Resolve(ctx, c.host)
			requireErrorIs(t, c.after, err)
		})
	}
}

func requireErrorIs(t *testing.T, want, got error) {
	t.Helper()
	if want == nil {
		require.NoError(t, got)
		return
	}
	require.ErrorIs(t, got, want)
}

// A suspended tenant's cached entry refuses on every hit, and only an
// active tenant's lets a request through to the next handler.
func TestCachedDecisionsStayFailClosed(t *testing.T) {
	f := newFixture(t)
	r := f.resolver(t)
	var reached atomic.Int64
	h := r.Middleware(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		reached.Add(1)
		whoami.ServeHTTP(w, req)
	}))
	for i := range 50 {
		for _, c := range []struct {
			host string
			code int
		}{
			{"dormant.app.example.com", http.StatusForbidden},
			{"DORMANT.app.example.com:443", http.StatusForbidden},
			{"nobody.app.example.com", http.StatusNotFound},
			{"gone.acme.test", http.StatusNotFound},
			{"acme.app.example.com", http.StatusOK},
		} {
			rec := serve(h, "192.0.2.1:1", c.host, nil)
			require.Equal(t, c.code, rec.Code, "request %d for %s", i, c.host)
		}
	}
	assert.EqualValues(t, 50, reached.Load(), "only the active tenant's requests reach the handler")
	assert.LessOrEqual(t, f.store.lookups.Load(), int64(8), "hits went to the store")
}

// The middleware's hit path allocates what any net/http middleware that
// puts a value in the request context must: the context and the request
// copy. It is part of the contract in BENCHMARKS.md.
func TestMiddlewareHitAllocatesTwice(t *testing.T) {
	f := newFixture(t)
	r := f.resolver(t)
	h := r.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	w := httptest.NewRecorder()
	for _, host := range []string{"acme.app.example.com", "crm.acme.test"} {
		req := httptest.NewRequest("GET", "http://"+host+"/", nil)
		h.ServeHTTP(w, req)
		allocs := testing.AllocsPerRun(200, func() { h.ServeHTTP(w, req) })
		assert.LessOrEqual(t, allocs, 2.0, host)
	}
}

// A TTL too large to add to the clock means "keep", not an expiry in the
// past: the sum used to wrap negative and every request went to the store.
func TestAHugeTTLKeepsEntriesInsteadOfExpiringThem(t *testing.T) {
	for _, ttl := range []time.Duration{math.MaxInt64, math.MaxInt64 - 1, math.MaxInt64 / 2 * 2} {
		f := newFixture(t)
		r := f.resolver(t, resolve.WithCache(100, ttl, ttl))
		for range 5 {
			_, err := r.Resolve(context.Background(), "acme.app.example.com")
			require.NoError(t, err)
			_, err = r.Resolve(context.Background(), "nobody.app.example.com")
			require.ErrorIs(t, err, resolve.ErrUnknownHost)
		}
		assert.EqualValues(t, 2, f.store.lookups.Load(), "TTL %v: hits went to the store", ttl)
	}
}
