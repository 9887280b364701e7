package telemetry_test

import (
	"context"
	"fmt"
	"net/http"
	"syscall"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/exemplar"

	"github.com/tenantwall/tenantwall/resolve"
	"github.com/tenantwall/tenantwall/telemetry"
	"github.com/tenantwall/tenantwall/telemetry/otelsdk"
	"github.com/tenantwall/tenantwall/tenant"
	"github.com/tenantwall/tenantwall/tenant/tenanttest"
)

// cpuTime is the CPU time this process has used. On a shared machine it
// varies far less than wall time, which includes the time other
// processes hold the CPU (cpu-ns/op; it includes the GC's work).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type nopWriter struct{ h http.Header }

func (w nopWriter) Header() http.Header       { return w.h }
func (nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (nopWriter) WriteHeader(int)             {}

// BenchmarkMiddleware measures resolve's middleware on a cache hit with
// metrics off, with them on (the SDK's MeterProvider: the resolve
// observer, the audit hook and telemetry's middleware below resolve's),
// on without the duration histogram (counters), and on with the
// histogram kept by telemetry and exported by otelsdk.Producer
// (producer); and, as the floor of any latency measured per request,
// resolve's middleware with one monotonic clock read and nothing else
// (clock). off2 repeats off at the end of each process, so a drift
// within a process (the machine's load changing) shows.
// 1,000 tenants, requests cycling over all of them, all labelled (the cap
// is not reached).
func BenchmarkMiddleware(b *testing.B) {
	const tenants = 1000
	store := tenant.NewMemStore()
	ctx := context.Background()
	var hosts []string
	for i := range tenants {
		t := tenanttest.NewTenant(fmt.Sprintf("t%04d", i))
		if err := store.Create(ctx, t); err != nil {
			b.Fatal(err)
		}
		hosts = append(hosts, t.Slug+".app.example.com")
	}
	m, err := telemetry.New(sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader())))
	if err != nil {
		b.Fatal(err)
	}
	noExemplars, err := telemetry.New(sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()),
		sdkmetric.WithExemplarFilter(exemplar.AlwaysOffFilter)))
	if err != nil {
		b.Fatal(err)
	}
	counted, err := telemetry.New(sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader())),
		telemetry.WithDurationHistogram(false))
	if err != nil {
		b.Fatal(err)
	}
	producer := otelsdk.NewProducer()
	own, err := telemetry.New(sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader(sdkmetric.WithProducer(producer)))),
		telemetry.WithDurationReader(producer))
	if err != nil {
		b.Fatal(err)
	}
	newResolver := func(opts ...resolve.Option) *resolve.Resolver {
		r, err := resolve.New(store, append([]resolve.Option{resolve.WithBaseDomain("app.example.com"),
			resolve.WithCache(2*tenants, time.Hour, time.Minute)}, opts...)...)
		if err != nil {
			b.Fatal(err)
		}
		return r
	}
	off := newResolver()
	on := newResolver(resolve.WithObserver(m), resolve.WithAuditor(m.Auditor(nil)))
	reqs := make([]*http.Request, 4096)
	for i := range reqs {
		reqs[i], _ = http.NewRequest("GET", "http://"+hosts[(i*7919)%len(hosts)]+"/api/leads/", nil)
	}
	noop := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	w := nopWriter{h: http.Header{}}
	onNoEx := newResolver(resolve.WithObserver(noExemplars), resolve.WithAuditor(noExemplars.Auditor(nil)))
	onCounted := newResolver(resolve.WithObserver(counted), resolve.WithAuditor(counted.Auditor(nil)))
	onOwn := newResolver(resolve.WithObserver(own), resolve.WithAuditor(own.Auditor(nil)))
	// clock is the floor of any per-request latency: resolve's middleware
	// and one monotonic clock read after the handler (a middleware that
	// shared its start reading with resolve's cache clock would still need
	// this one).
	clock := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		noop.ServeHTTP(w, r)
		sink += time.Since(epoch)
	})
	handlers := map[string]http.Handler{"producer": onOwn.Middleware(own.Middleware(noop)), "clock": off.Middleware(clock),
		"off": off.Middleware(noop), "off2": off.Middleware(noop), "on": on.Middleware(m.Middleware(noop)),
		"counters": onCounted.Middleware(counted.Middleware(noop)), "noexemplars": onNoEx.Middleware(noExemplars.Middleware(noop))}
	for _, h := range handlers { // warm the caches and the label set
		for _, r := range reqs {
			h.ServeHTTP(w, r)
		}
	}
	for _, name := range []string{"off", "clock", "on", "noexemplars", "counters", "producer", "off2"} {
		b.Run("metrics="+name, func(b *testing.B) {
			h := handlers[name]
			b.ReportAllocs()
			i := 0
			cpu := cpuTime()
			for b.Loop() {
				h.ServeHTTP(w, reqs[i&4095])
				i++
			}
			b.ReportMetric(float64(cpuTime()-cpu)/float64(i), "cpu-ns/op")
		})
	}
}

// sink keeps the clock reads of BenchmarkClock from being optimised away.
var sink time.Duration

// epoch is the origin of the benchmarks' monotonic clock reads.
var epoch = time.Now()

// BenchmarkClock measures the two ways to time a request: time.Now at the
// start and time.Since at the end (a wall and a monotonic read, then a
// monotonic one), against time.Since of a fixed epoch twice (monotonic
// reads only), which Middleware uses.
func BenchmarkClock(b *testing.B) {
	b.Run("clock=now+since", func(b *testing.B) {
		cpu := cpuTime()
		for b.Loop() {
			start := time.Now()
			sink += time.Since(start)
		}
		b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
	})
	b.Run("clock=since", func(b *testing.B) {
		cpu := cpuTime()
		for b.Loop() {
			sink += time.Since(epoch)
		}
		b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
	})
	b.Run("clock=since+since", func(b *testing.B) {
		cpu := cpuTime()
		for b.Loop() {
			start := time.Since(epoch)
			sink += time.Since(epoch) - start
		}
		b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
	})
}

// BenchmarkMiddlewareFloor measures what Metrics.Middleware (with the
// histogram telemetry keeps) adds to a handler on its own, with every
// cache line hot (one tenant): the floor of the metrics' cost per request,
// against the handler called directly.
func BenchmarkMiddlewareFloor(b *testing.B) {
	producer := otelsdk.NewProducer()
	m, err := telemetry.New(sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader(sdkmetric.WithProducer(producer)))),
		telemetry.WithDurationReader(producer))
	if err != nil {
		b.Fatal(err)
	}
	req, _ := http.NewRequest("GET", "/", nil)
	req = req.WithContext(tenant.NewContext(context.Background(), tenanttest.NewTenant("acme")))
	handler := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	w := nopWriter{h: http.Header{}}
	for name, h := range map[string]http.Handler{"direct": handler, "metrics": m.Middleware(handler)} {
		b.Run("serve="+name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(w, req)
			}
		})
	}
}
