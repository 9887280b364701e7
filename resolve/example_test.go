package resolve_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/tenantwall/tenantwall/resolve"
	"github.com/tenantwall/tenantwall/tenant"
)

func Example() {
	store := tenant.NewMemStore()
	acme := tenant.Tenant{ID: "3f0c9a52-6a7e-4c4e-9a35-2d1f0e8b7c61", Slug: "acme", Name: "Acme", Status: tenant.StatusActive}
	_ = store.Create(context.Background(), acme)
	_ = store.PutDomain(context.Background(), tenant.Domain{Host: "crm.acme.test", TenantID: acme.ID, Status: tenant.DomainActive})

	r, err := resolve.New(store, resolve.WithBaseDomain("app.example.com"))
	if err != nil {
		panic(err)
	}
	h := r.Middleware(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		io.WriteString(w, tenant.MustFromContext(req.Context()).Slug)
	}))

	for _, host := range []string{"acme.app.example.com", "CRM.acme.test:443", "evil.app.example.com", "a.acme.app.example.com"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "http://"+host+"/", nil))
		fmt.Println(host, rec.Code, rec.Body.String())
	}
	// Output:
	// acme.app.example.com 200 acme
	// CRM.acme.test:443 200 acme
	// evil.app.example.com 404 404 page not found
	//
	// a.acme.app.example.com 404 404 page not found
}

func ExampleNormalize() {
	for _, h := range []string{"ACME.Example.com.:8443", "bücher.example", "ａｃｍｅ．example．com", "127.0.0.1"} {
		n, err := resolve.Normalize(h)
		fmt.Printf("%q %v\n", n, err)
	}
	// Output:
	// "acme.example.com" <nil>
	// "xn--bcher-kva.example" <nil>
	// "acme.example.com" <nil>
	// "" resolve: IP literal host "127.0.0.1"
}
