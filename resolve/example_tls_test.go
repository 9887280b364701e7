package resolve_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"

	"github.com/tenantwall/tenantwall/resolve"
	"github.com/tenantwall/tenantwall/tenant"
)

// A server terminating TLS itself hands autocert only the handshakes of
// hosts it serves. With autocert the wiring is
//
//	m := &autocert.Manager{Prompt: autocert.AcceptTOS, Cache: autocert.DirCache(dir),
//		HostPolicy: p.HostPolicy(),
//		Client: &acme.Client{DirectoryURL: dir, HTTPClient: &http.Client{Transport: guard}}}
//	cfg := m.TLSConfig()
//	cfg.GetCertificate = p.GetCertificate(m.GetCertificate)
//
// with guard from p.OrderGuard(directoryURL, nil).
func ExampleCertPolicy_GetCertificate() {
	ctx := context.Background()
	store := tenant.NewMemStore()
	acme := tenant.Tenant{ID: "3f0c9a52-6a7e-4c4e-9a35-2d1f0e8b7c61", Slug: "acme", Name: "Acme", Status: tenant.StatusActive}
	_ = store.Create(ctx, acme)
	_ = store.PutDomain(ctx, tenant.Domain{Host: "crm.acme.test", TenantID: acme.ID, Status: tenant.DomainActive})
	_ = store.PutDomain(ctx, tenant.Domain{Host: "new.acme.test", TenantID: acme.ID, Status: tenant.DomainPending})

	r, err := resolve.New(store, resolve.WithBaseDomain("app.example.com"))
	if err != nil {
		panic(err)
	}
	p, err := r.CertPolicy(resolve.WithPlatformHosts("platform.app.example.com"))
	if err != nil {
		panic(err)
	}
	issue := func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		fmt.Println("  certificate for", hello.ServerName)
		return &tls.Certificate{}, nil
	}
	get := p.GetCertificate(issue)
	for _, sni := range []string{"CRM.acme.test", "acme.app.example.com", "platform.app.example.com", "new.acme.test", "evil.example", ""} {
		fmt.Printf("%q:\n", sni)
		if _, err := get(&tls.ClientHelloInfo{ServerName: sni}); errors.Is(err, resolve.ErrHostNotAllowed) {
			fmt.Println("  refused")
		}
	}
	// Output:
	// "CRM.acme.test":
	//   certificate for crm.acme.test
	// "acme.app.example.com":
	//   certificate for acme.app.example.com
	// "platform.app.example.com":
	//   certificate for platform.app.example.com
	// "new.acme.test":
	//   refused
	// "evil.example":
	//   refused
	// "":
	//   refused
}
