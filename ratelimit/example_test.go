package ratelimit_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/tenantwall/tenantwall/ratelimit"
	"github.com/tenantwall/tenantwall/tenant"
)

func Example() {
	acme := tenant.Tenant{ID: "3f0c9a52-6a7e-4c4e-9a35-2d1f0e8b7c61", Slug: "acme", Name: "Acme", Status: tenant.StatusActive}
	plans := map[string]ratelimit.Policy{
		"free": {Tenant: ratelimit.Limit{Rate: 2, Burst: 2, Period: time.Minute}},
	}
	store, _ := ratelimit.NewMemoryStore()
	lim, err := ratelimit.New(store, func(_ context.Context, t tenant.Tenant) (ratelimit.Policy, error) {
		return plans["free"], nil // look the tenant's plan up here
	})
	if err != nil {
		panic(err)
	}
	h := lim.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for range 3 {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/", nil)
		h.ServeHTTP(rec, req.WithContext(tenant.NewContext(req.Context(), acme))) // as resolve does
		fmt.Printf("%d %s retry-after=%q\n", rec.Code, rec.Header().Get("RateLimit"), rec.Header().Get("Retry-After"))
	}
	// Output:
	// 200 "tenant";r=1;t=30 retry-after=""
	// 200 "tenant";r=0;t=60 retry-after=""
	// 429 "tenant";r=0;t=60 retry-after="30"
}
