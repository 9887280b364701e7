package resolve_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tenantwall/tenantwall/resolve"
	"github.com/tenantwall/tenantwall/tenant"
	"github.com/tenantwall/tenantwall/tenant/tenanttest"
)

const (
	benchTenants = 10_000
	benchDomains = 100_000
)

type nopWriter struct{ h http.Header }

func (w nopWriter) Header() http.Header       { return w.h }
func (nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (nopWriter) WriteHeader(int)             {}

type handKey struct{}

// handWritten is the baseline the issue names: SplitHostPort (only with a
// port), ToLower, a map lookup, context.WithValue and r.WithContext.
func handWritten(hosts map[string]*tenant.Tenant, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if strings.IndexByte(host, ':') >= 0 {
			if h, _, err := net.SplitHostPort(host); err == nil {
				host = h
			}
		}
		t, ok := hosts[strings.ToLower(host)]
		if !ok {
			http.NotFound(w, r)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), handKey{}, t)))
	})
}

// BenchmarkMiddleware measures a cache hit with 10,000 tenants and 100,000
// custom domains, beside a bare handler and a minimal hand-written
// middleware. Requests cycle over 4,096 distinct hosts.
func BenchmarkMiddleware(b *testing.B) {
	store := tenant.NewMemStore()
	ctx := context.Background()
	byHost := make(map[string]*tenant.Tenant, benchDomains)
	var hosts []string
	for i := range benchTenants {
		t := tenanttest.NewTenant(fmt.Sprintf("t%05d", i))
		if err := store.Create(ctx, t); err != nil {
			b.Fatal(err)
		}
		for j := range benchDomains / benchTenants {
			h := fmt.Sprintf("www%d.customer%05d.example", j, i)
			if err := store.PutDomain(ctx, tenant.Domain{Host: h, TenantID: t.ID, Status: tenant.DomainActive}); err != nil {
				b.Fatal(err)
			}
			byHost[h] = &t
			hosts = append(hosts, h)
		}
	}
	r, err := resolve.New(store, resolve.WithBaseDomain("app.example.com"),
		resolve.WithCache(2*benchDomains, time.Hour, time.Minute))
	if err != nil {
		b.Fatal(err)
	}
	for _, h := range hosts {
		if _, err := r.Resolve(ctx, h); err != nil {
			b.Fatal(err)
		}
	}
	reqs := make([]*http.Request, 4096)
	for i := range reqs {
		reqs[i], _ = http.NewRequest("GET", "http://"+hosts[(i*7919)%len(hosts)]+"/api/leads/", nil)
	}
	noop := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	w := nopWriter{h: http.Header{}}
	run := func(b *testing.B, h http.Handler) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			h.ServeHTTP(w, reqs[i&4095])
			i++
		}
	}
	b.Run("impl=bare", func(b *testing.B) { run(b, noop) })
	b.Run("impl=handwritten", func(b *testing.B) { run(b, handWritten(byHost, noop)) })
	b.Run("impl=tenantwall", func(b *testing.B) { run(b, r.Middleware(noop)) })
}

func BenchmarkNormalize(b *testing.B) {
	for _, h := range []string{"acme.app.example.com", "ACME.App.Example.com:8443", "bücher.example"} {
		b.Run(h, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := resolve.Normalize(h); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
