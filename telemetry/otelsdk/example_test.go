package otelsdk_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/tenantwall/tenantwall/telemetry"
	"github.com/tenantwall/tenantwall/telemetry/otelsdk"
	"github.com/tenantwall/tenantwall/tenant"
)

func Example() {
	p := otelsdk.NewProducer()
	// A Prometheus exporter takes it the same way: prometheus.WithProducer(p).
	reader := sdkmetric.NewManualReader(sdkmetric.WithProducer(p))
	m, err := telemetry.New(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)), telemetry.WithDurationReader(p))
	if err != nil {
		panic(err)
	}

	// Below resolve's middleware, which puts the tenant in the context.
	acme := tenant.Tenant{ID: "3f0c9a52-6a7e-4c4e-9a35-2d1f0e8b7c61", Slug: "acme", Status: tenant.StatusActive}
	h := m.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for range 3 {
		req := httptest.NewRequest("GET", "/", nil)
		h.ServeHTTP(httptest.NewRecorder(), req.WithContext(tenant.NewContext(req.Context(), acme)))
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		panic(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, metric := range sm.Metrics {
			if hist, ok := metric.Data.(metricdata.Histogram[float64]); ok {
				for _, dp := range hist.DataPoints {
					id, _ := dp.Attributes.Value(telemetry.TenantKey)
					class, _ := dp.Attributes.Value("http.status_class")
					fmt.Println(metric.Name, id.AsString(), class.AsString(), dp.Count, len(dp.BucketCounts))
				}
			}
		}
	}
	// Output:
	// tenantwall.http.server.request.duration 3f0c9a52-6a7e-4c4e-9a35-2d1f0e8b7c61 2xx 3 15
}
