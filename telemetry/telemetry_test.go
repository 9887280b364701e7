package telemetry_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/tenantwall/tenantwall/resolve"
	"github.com/tenantwall/tenantwall/telemetry"
	"github.com/tenantwall/tenantwall/tenant"
	"github.com/tenantwall/tenantwall/tenant/tenanttest"
)

// harness is a resolver over two known tenants and a suspended one, with
// the metrics wired as the reference server wires them: the audit hook,
// the resolve observer, and the middleware below resolve's.
type harness struct {
	reader       *sdkmetric.ManualReader
	metrics      *telemetry.Metrics
	handler      http.Handler
	acme, globex tenant.Tenant
	dormant      tenant.Tenant
	store        *tenant.MemStore
}

func newHarness(t *testing.T, opts ...telemetry.Option) *harness {
	t.Helper()
	return newHarnessKeeping(t, false, opts...)
}

// newHarnessKeeping is newHarness with the duration histogram kept by
// telemetry and exported through otelsdk.Producer when own is true.
func newHarnessKeeping(t *testing.T, own bool, opts ...telemetry.Option) *harness {
	t.Helper()
	h := &harness{store: tenant.NewMemStore()}
	m, reader := sdkMetrics(t, own, opts...)
	h.metrics, h.reader = m, reader
	h.acme, h.globex, h.dormant = tenanttest.NewTenant("acme"), tenanttest.NewTenant("globex"), tenanttest.NewTenant("dormant")
	h.dormant.Status = tenant.StatusSuspended
	for _, x := range []tenant.Tenant{h.acme, h.globex, h.dormant} {
		require.NoError(t, h.store.Create(context.Background(), x))
	}
	r, err := resolve.New(h.store, resolve.WithBaseDomain("app.example.com"),
		resolve.WithStrategies(resolve.Header, resolve.CustomDomain, resolve.Subdomain),
		resolve.WithHeader("X-Tenant"), resolve.WithTrustedProxies("10.0.0.1"),
		resolve.WithAuditor(m.Auditor(tenant.AuditorFunc(func(context.Context, tenant.Event) {}))),
		resolve.WithObserver(m))
	require.NoError(t, err)
	h.handler = r.Middleware(m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})))
	return h
}

func (h *harness) serve(remote, host string, hdr map[string]string, path string) int {
	req := httptest.NewRequest("GET", "http://placeholder"+path, nil)
	req.Host, req.RemoteAddr = host, remote+":1234"
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.handler.ServeHTTP(rec, req)
	return rec.Code
}

// sdkMetrics is a Metrics on the SDK with a ManualReader: with the SDK's
// duration histogram, or (own) with the one telemetry keeps, exported
// through otelsdk.Producer.
func sdkMetrics(t *testing.T, own bool, opts ...telemetry.Option) (*telemetry.Metrics, *sdkmetric.ManualReader) {
	t.Helper()
	if own {
		return ownMetrics(t, opts...)
	}
	reader := sdkmetric.NewManualReader()
	m, err := telemetry.New(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)), opts...)
	require.NoError(t, err)
	return m, reader
}

// bothHistograms runs f with the SDK's duration histogram and with the
// one telemetry keeps: the request counts come from the latter's buckets.
func bothHistograms(t *testing.T, f func(t *testing.T, own bool)) {
	t.Run("with the SDK's histogram", func(t *testing.T) { f(t, false) })
	t.Run("with the histogram telemetry keeps", func(t *testing.T) { f(t, true) })
}

func collect(t *testing.T, r *sdkmetric.ManualReader) metricdata.ResourceMetrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, r.Collect(context.Background(), &rm))
	return rm
}

// point is one data point of any metric, flattened.
type point struct {
	metric string
	attrs  map[string]string
	value  float64 // sum, gauge value or histogram count
}

func points(rm metricdata.ResourceMetrics) []point {
	var out []point
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					out = append(out, point{m.Name, attrMap(p.Attributes.ToSlice()), float64(p.Value)})
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					out = append(out, point{m.Name, attrMap(p.Attributes.ToSlice()), float64(p.Value)})
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					out = append(out, point{m.Name, attrMap(p.Attributes.ToSlice()), float64(p.Count)})
				}
			default:
				panic(fmt.Sprintf("unexpected data %T in %s", m.Data, m.Name))
			}
		}
	}
	return out
}

func attrMap(kvs []attribute.KeyValue) map[string]string {
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		m[string(kv.Key)] = kv.Value.String()
	}
	return m
}

func value(ps []point, metric string, attrs map[string]string) float64 {
	for _, p := range ps {
		if p.metric == metric && assert.ObjectsAreEqual(attrs, p.attrs) {
			return p.value
		}
	}
	return 0
}

func TestATenantLabelIsOnlyEverAKnownResolvedTenant(t *testing.T) {
	bothHistograms(t, testATenantLabelIsOnlyEverAKnownResolvedTenant)
}

func testATenantLabelIsOnlyEverAKnownResolvedTenant(t *testing.T, own bool) {
	h := newHarnessKeeping(t, own)
	forged := []string{"evil.app.example.com", "attacker-chosen.example", "x" + strings.Repeat("a", 60) + ".app.example.com"}
	for _, host := range forged {
		assert.Equal(t, 404, h.serve("192.0.2.7", host, nil, "/"), host)
	}
	// A tenant header from an untrusted peer is ignored: the host decides.
	assert.Equal(t, 200, h.serve("192.0.2.7", "acme.app.example.com", map[string]string{"X-Tenant": "forged-slug"}, "/"))
	assert.Equal(t, 404, h.serve("192.0.2.7", "nobody.app.example.com", map[string]string{"X-Tenant": "globex"}, "/"))
	// From the trusted proxy, a header naming no tenant is refused.
	assert.Equal(t, 404, h.serve("10.0.0.1", "acme.app.example.com", map[string]string{"X-Tenant": "forged-slug"}, "/"))
	assert.Equal(t, 404, h.serve("10.0.0.1", "acme.app.example.com", map[string]string{"X-Tenant": "../" + h.acme.ID}, "/"))
	// Known tenants, each way.
	assert.Equal(t, 200, h.serve("192.0.2.7", "acme.app.example.com", nil, "/"))
	assert.Equal(t, 404, h.serve("192.0.2.7", "acme.app.example.com", nil, "/missing"))
	assert.Equal(t, 200, h.serve("10.0.0.1", "whatever.example", map[string]string{"X-Tenant": "globex"}, "/"))
	assert.Equal(t, 403, h.serve("192.0.2.7", "dormant.app.example.com", nil, "/"))

	ps := points(collect(t, h.reader))
	allowed := map[string]bool{h.acme.ID: true, h.globex.ID: true, h.dormant.ID: true, telemetry.NoTenant: true}
	for _, p := range ps {
		for k, v := range p.attrs {
			for _, f := range append(forged, "forged-slug", "evil", "nobody", "../") {
				require.NotContains(t, v, f, "%s: label %s holds a client's value", p.metric, k)
			}
			if k == string(telemetry.TenantKey) {
				require.True(t, allowed[v], "%s: tenant label %q is not a known tenant", p.metric, v)
			}
		}
	}
	req := "tenantwall.http.server.requests"
	assert.Equal(t, 2.0, value(ps, req, map[string]string{"tenant.id": h.acme.ID, "http.status_class": "2xx"}))
	assert.Equal(t, 1.0, value(ps, req, map[string]string{"tenant.id": h.acme.ID, "http.status_class": "4xx"}))
	assert.Equal(t, 1.0, value(ps, req, map[string]string{"tenant.id": h.globex.ID, "http.status_class": "2xx"}))
	assert.Equal(t, 2.0, value(ps, "tenantwall.http.server.request.duration", map[string]string{"tenant.id": h.acme.ID, "http.status_class": "2xx"}),
		"the histogram counts what the counter counts")
	ev := "tenantwall.audit.events"
	assert.Equal(t, 6.0, value(ps, ev, map[string]string{"tenant.id": telemetry.NoTenant, "audit.kind": "unknown_host"}))
	assert.Equal(t, 1.0, value(ps, ev, map[string]string{"tenant.id": h.dormant.ID, "audit.kind": "suspended"}))
	assert.Equal(t, 0.0, value(ps, req, map[string]string{"tenant.id": h.dormant.ID, "http.status_class": "4xx"}), "a suspended tenant is never served")
	assert.Positive(t, value(ps, "tenantwall.resolve.cache", map[string]string{"cache.result": "miss"}))
	assert.Positive(t, value(ps, "tenantwall.resolve.lookups", map[string]string{"lookup.result": "ok"}))
}

func TestTenantsPastTheCapShareTheOverflowValue(t *testing.T) {
	bothHistograms(t, testTenantsPastTheCapShareTheOverflowValue)
}

func testTenantsPastTheCapShareTheOverflowValue(t *testing.T, own bool) {
	const max = 3
	h := newHarnessKeeping(t, own, telemetry.WithMaxTenants(max))
	var all []tenant.Tenant
	for i := range 10 {
		tn := tenanttest.NewTenant(fmt.Sprintf("t%02d", i))
		require.NoError(t, h.store.Create(context.Background(), tn))
		all = append(all, tn)
		assert.Equal(t, 200, h.serve("192.0.2.7", tn.Slug+".app.example.com", nil, "/"))
	}
	ps := points(collect(t, h.reader))
	values, timed := map[string]float64{}, map[string]float64{}
	for _, p := range ps {
		switch p.metric {
		case "tenantwall.http.server.requests":
			values[p.attrs["tenant.id"]] += p.value
		case telemetry.DurationName:
			timed[p.attrs["tenant.id"]] += p.value
		}
	}
	require.Len(t, values, max+1, "the tenant label took more values than the cap allows: %v", values)
	assert.Equal(t, values, timed, "the histogram has the counter's labels and counts")
	for _, tn := range all[:max] {
		assert.Equal(t, 1.0, values[tn.ID], "the first tenants keep their own value")
	}
	assert.Equal(t, float64(len(all)-max), values[telemetry.Overflow])
	for _, tn := range all[max:] {
		assert.NotContains(t, values, tn.ID)
	}
}

func TestAuditKindsAreAllowListed(t *testing.T) {
	h := newHarness(t)
	a := h.metrics.Auditor(tenant.AuditorFunc(func(context.Context, tenant.Event) {}))
	ctx := tenant.NewContext(context.Background(), h.acme)
	a.Audit(ctx, tenant.Event{Kind: tenant.EventCrossTenant, TenantID: h.acme.ID, OwnerID: h.globex.ID})
	a.Audit(ctx, tenant.Event{Kind: "attacker-controlled-kind", TenantID: "not-a-tenant", OwnerID: "nor-this"})
	ps := points(collect(t, h.reader))
	assert.Equal(t, 1.0, value(ps, "tenantwall.audit.events", map[string]string{"tenant.id": h.acme.ID, "audit.kind": "cross_tenant"}))
	assert.Equal(t, 1.0, value(ps, "tenantwall.audit.events", map[string]string{"tenant.id": h.acme.ID, "audit.kind": "other"}))
	for _, p := range ps {
		for _, v := range p.attrs {
			assert.NotContains(t, []string{"attacker-controlled-kind", "not-a-tenant", "nor-this", h.globex.ID}, v)
		}
	}
}

func TestAContextTenantThatIsNotACanonicalIDIsNoLabel(t *testing.T) {
	h := newHarness(t)
	bogus := tenant.Tenant{ID: "<script>", Slug: "x"}
	h.metrics.CacheGet(tenant.NewContext(context.Background(), bogus), true)
	ps := points(collect(t, h.reader))
	assert.Equal(t, 1.0, value(ps, "tenantwall.cache.gets", map[string]string{"tenant.id": telemetry.NoTenant, "cache.result": "hit"}))
}

func TestBlobUsageIsTheLastValuePerTenantAndSummedPastTheCap(t *testing.T) {
	h := newHarness(t, telemetry.WithMaxTenants(1))
	ctxA := tenant.NewContext(context.Background(), h.acme)
	h.metrics.BlobUsage(ctxA, 3, 300)
	h.metrics.BlobUsage(ctxA, 2, 200)
	h.metrics.BlobUsage(tenant.NewContext(context.Background(), h.globex), 1, 10)
	h.metrics.BlobUsage(tenant.NewContext(context.Background(), h.dormant), 4, 40)
	h.metrics.BlobUsage(context.Background(), 99, 99)
	ps := points(collect(t, h.reader))
	assert.Equal(t, 2.0, value(ps, "tenantwall.blob.objects", map[string]string{"tenant.id": h.acme.ID}))
	assert.Equal(t, 200.0, value(ps, "tenantwall.blob.bytes", map[string]string{"tenant.id": h.acme.ID}))
	assert.Equal(t, 5.0, value(ps, "tenantwall.blob.objects", map[string]string{"tenant.id": telemetry.Overflow}))
	assert.Equal(t, 50.0, value(ps, "tenantwall.blob.bytes", map[string]string{"tenant.id": telemetry.Overflow}))
	assert.Zero(t, value(ps, "tenantwall.blob.bytes", map[string]string{"tenant.id": telemetry.NoTenant}))
}

func TestSpansCarryTheTenantAsSlogNamesIt(t *testing.T) {
	h := newHarness(t)
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	handler := h.handler
	traced := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, span := tp.Tracer("test").Start(r.Context(), "request")
		defer span.End()
		handler.ServeHTTP(w, r.WithContext(ctx))
	})
	req := httptest.NewRequest("GET", "http://acme.app.example.com/", nil)
	traced.ServeHTTP(httptest.NewRecorder(), req)
	req = httptest.NewRequest("GET", "http://nobody.app.example.com/", nil)
	traced.ServeHTTP(httptest.NewRecorder(), req)
	spans := rec.Ended()
	require.Len(t, spans, 2)
	got := map[string]string{}
	for _, kv := range spans[0].Attributes() {
		got[string(kv.Key)] = kv.Value.AsString()
	}
	assert.Equal(t, map[string]string{"tenant.id": h.acme.ID, "tenant.slug": "acme"}, got)
	assert.Empty(t, spans[1].Attributes(), "an unknown host's span names no tenant")
}

func TestStatusClasses(t *testing.T) {
	bothHistograms(t, testStatusClasses)
}

func testStatusClasses(t *testing.T, own bool) {
	m, reader := sdkMetrics(t, own)
	a := tenanttest.NewTenant("acme")
	for _, tc := range []struct {
		name  string
		write func(http.ResponseWriter)
		class string
	}{
		{"nothing written is a 200", func(http.ResponseWriter) {}, "2xx"},
		{"a body alone is a 200", func(w http.ResponseWriter) { _, _ = w.Write([]byte("x")) }, "2xx"},
		{"early hints then a 503 is a 5xx", func(w http.ResponseWriter) { w.WriteHeader(103); w.WriteHeader(503) }, "5xx"},
		{"a redirect is a 3xx", func(w http.ResponseWriter) { w.WriteHeader(302) }, "3xx"},
		{"a flushed stream is a 200", func(w http.ResponseWriter) { http.NewResponseController(w).Flush() }, "2xx"},
		{"a body copied with io.Copy is a 200", func(w http.ResponseWriter) { _, _ = io.Copy(w, strings.NewReader("x")) }, "2xx"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := value(points(collect(t, reader)), "tenantwall.http.server.requests", map[string]string{"tenant.id": a.ID, "http.status_class": tc.class})
			h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { tc.write(w) }))
			req := httptest.NewRequest("GET", "/", nil).WithContext(tenant.NewContext(context.Background(), a))
			h.ServeHTTP(httptest.NewRecorder(), req)
			after := value(points(collect(t, reader)), "tenantwall.http.server.requests", map[string]string{"tenant.id": a.ID, "http.status_class": tc.class})
			assert.Equal(t, before+1, after)
		})
	}
	t.Run("a panicking handler is a 5xx and still panics", func(t *testing.T) {
		attrs := map[string]string{"tenant.id": a.ID, "http.status_class": "5xx"}
		before := value(points(collect(t, reader)), "tenantwall.http.server.requests", attrs)
		h := m.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) }))
		req := httptest.NewRequest("GET", "/", nil).WithContext(tenant.NewContext(context.Background(), a))
		assert.PanicsWithValue(t, http.ErrAbortHandler, func() { h.ServeHTTP(httptest.NewRecorder(), req) })
		assert.Equal(t, before+1, value(points(collect(t, reader)), "tenantwall.http.server.requests", attrs))
	})
}

func TestNewRefusesBadOptions(t *testing.T) {
	_, err := telemetry.New(nil)
	assert.ErrorIs(t, err, telemetry.ErrConfig)
	_, err = telemetry.New(sdkmetric.NewMeterProvider(), telemetry.WithMaxTenants(0))
	assert.ErrorIs(t, err, telemetry.ErrConfig)
}

// The duration a served request records is the time Middleware took, no
// less and no more (found by review: a recording path no test checked).
func TestTheRecordedDurationIsTheRequestsTime(t *testing.T) {
	bothHistograms(t, func(t *testing.T, own bool) {
		m, reader := sdkMetrics(t, own)
		const delay = 30 * time.Millisecond
		h := m.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { time.Sleep(delay) }))
		req := httptest.NewRequest("GET", "/", nil).WithContext(tenant.NewContext(context.Background(), tenanttest.NewTenant("acme")))
		start := time.Now()
		h.ServeHTTP(httptest.NewRecorder(), req)
		elapsed := time.Since(start)
		var sum float64
		for _, p := range durationPoints(t, reader) {
			sum += p.Sum
		}
		assert.GreaterOrEqual(t, sum, delay.Seconds())
		assert.LessOrEqual(t, sum, elapsed.Seconds()+1e-9, "no more than the call took")
	})
}
