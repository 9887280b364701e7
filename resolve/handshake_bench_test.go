package resolve_test

import (
	"crypto/tls"
	"strconv"
	"testing"
	"time"

	"github.com/tenantwall/tenantwall/resolve"
)

// BenchmarkGetCertificate measures what CertPolicy.GetCertificate adds to
// a TLS handshake: for a host whose answer is cached (every handshake but
// the first in a TTL), and for a made-up name once the lookup budget is
// spent (a storm). "direct" calls the wrapped function alone.
func BenchmarkGetCertificate(b *testing.B) {
	f := newFixture(b)
	r, err := resolve.New(f.store, resolve.WithBaseDomain("app.example.com"), resolve.WithAuditor(discard{}))
	if err != nil {
		b.Fatal(err)
	}
	p, err := r.CertPolicy(resolve.WithHandshakeRate(1, time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	cert := &tls.Certificate{}
	next := func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cert, nil }
	get := p.GetCertificate(next)
	if _, err := get(hello("crm.acme.test")); err != nil { // spends the budget, caches the host
		b.Fatal(err)
	}
	b.Run("direct", func(b *testing.B) {
		h := hello("crm.acme.test")
		b.ReportAllocs()
		for b.Loop() {
			_, _ = next(h)
		}
	})
	b.Run("cached host", func(b *testing.B) {
		h := hello("crm.acme.test")
		b.ReportAllocs()
		for b.Loop() {
			if _, err := get(h); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("storm name", func(b *testing.B) {
		names := make([]*tls.ClientHelloInfo, 1024)
		for i := range names {
			names[i] = hello("r" + strconv.Itoa(i) + ".storm.example")
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := get(names[i%len(names)]); err == nil {
				b.Fatal("a storm name got a certificate")
			}
			i++
		}
	})
}
