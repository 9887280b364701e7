package telemetry_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/tenantwall/tenantwall/resolve"
	"github.com/tenantwall/tenantwall/telemetry"
	"github.com/tenantwall/tenantwall/tenant"
)

func Example() {
	store := tenant.NewMemStore()
	acme := tenant.Tenant{ID: "3f0c9a52-6a7e-4c4e-9a35-2d1f0e8b7c61", Slug: "acme", Name: "Acme", Status: tenant.StatusActive}
	_ = store.Create(context.Background(), acme)

	// The SDK and its reader belong to the application; a Prometheus
	// exporter is a reader too.
	reader := sdkmetric.NewManualReader()
	m, err := telemetry.New(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)))
	if err != nil {
		panic(err)
	}
	quiet := tenant.AuditorFunc(func(context.Context, tenant.Event) {})
	res, err := resolve.New(store, resolve.WithBaseDomain("app.example.com"),
		resolve.WithObserver(m), resolve.WithAuditor(m.Auditor(quiet)))
	if err != nil {
		panic(err)
	}
	h := res.Middleware(m.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})))
	for _, host := range []string{"acme.app.example.com", "acme.app.example.com", "attacker.app.example.com"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "http://"+host+"/", nil))
	}

	var rm metricdata.ResourceMetrics
	_ = reader.Collect(context.Background(), &rm)
	for _, sm := range rm.ScopeMetrics {
		for _, metric := range sm.Metrics {
			if sum, ok := metric.Data.(metricdata.Sum[int64]); ok && (metric.Name == "tenantwall.http.server.requests" || metric.Name == "tenantwall.audit.events") {
				for _, p := range sum.DataPoints {
					id, _ := p.Attributes.Value(telemetry.TenantKey)
					fmt.Println(metric.Name, id.AsString(), p.Value)
				}
			}
		}
	}
	// Output:
	// tenantwall.http.server.requests 3f0c9a52-6a7e-4c4e-9a35-2d1f0e8b7c61 2
	// tenantwall.audit.events none 1
}
