package telemetry

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// DefaultMaxTenants is the default cap on distinct tenant label values.
const DefaultMaxTenants = 1000

// ScopeName is the instrumentation scope of every instrument (and of the
// duration histogram a DurationReader exports).
const ScopeName = "github.com/tenantwall/tenantwall/telemetry"

// Metrics records tenantwall's per-tenant metrics through an OpenTelemetry
// MeterProvider. It is the observer every tenantwall package accepts
// (resolve.Observer, cachekey.Observer, blobstore.Observer) and wraps the
// audit hook (Auditor), without any of them importing OpenTelemetry.
//
// A Metrics is safe for concurrent use; create one per process and share
// it. It holds no resources to close: the MeterProvider's owner shuts that
// down.
type Metrics struct {
	tenants *tenants

	duration metric.Float64Histogram
	timed    bool // record duration
	audit    metric.Int64Counter

	resolveHits, resolveMisses atomic.Int64
	lookupsOK, lookupsFailed   atomic.Int64

	usageMu sync.Mutex
	usage   map[string]blobUsage // tenant ID → last reported usage
}

type blobUsage struct {
	objects, bytes int64
	s              *series
}

// Option configures New. An invalid one makes New return an error wrapping
// ErrConfig that names it.
type Option func(*options) error

type options struct {
	maxTenants int
	noDuration bool
	reader     DurationReader
}

// WithDurationHistogram turns the request duration histogram on or off
// (default on). Off, Middleware only counts requests. Recorded through the
// SDK, the histogram is most of Middleware's cost (see BENCHMARKS.md),
// because every Record goes through the SDK's attribute lookup while the
// counters are atomic adds; WithDurationReader keeps it for a few
// nanoseconds instead.
func WithDurationHistogram(on bool) Option {
	return func(o *options) error { o.noDuration = !on; return nil }
}

// WithMaxTenants caps the distinct tenant label values (default
// DefaultMaxTenants). The first n tenants seen keep their own value for
// the life of the process; every later one is labelled Overflow. It must
// be positive.
func WithMaxTenants(n int) Option {
	return func(o *options) error {
		if n <= 0 {
			return fmt.Errorf("%w: WithMaxTenants(%d): not positive", ErrConfig, n)
		}
		o.maxTenants = n
		return nil
	}
}

// The name, description and unit ("s") of the request duration
// histogram, which a DurationReader exports under them.
const (
	DurationName        = "tenantwall.http.server.request.duration"
	DurationDescription = "Duration of requests served to a tenant, by tenant and status class."
)

// durationBuckets are durationBoundsNs in seconds, the unit of the SDK's
// histogram. Each is the double nearest the decimal bound (a quotient of
// two exact integers is correctly rounded), so 5e6 ns is 0.005 exactly as
// the literal would be.
var durationBuckets = func() []float64 {
	b := make([]float64, len(durationBoundsNs))
	for i, ns := range durationBoundsNs {
		b[i] = float64(ns) / 1e9
	}
	return b
}()

// New creates the instruments on mp's meter for ScopeName.
func New(mp metric.MeterProvider, opts ...Option) (*Metrics, error) {
	if mp == nil {
		return nil, fmt.Errorf("%w: nil MeterProvider", ErrConfig)
	}
	o := options{maxTenants: DefaultMaxTenants}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	meter := mp.Meter(ScopeName)
	own := o.reader != nil && !o.noDuration
	m := &Metrics{tenants: newTenants(o.maxTenants, own), usage: map[string]blobUsage{}, timed: !o.noDuration}
	var errs []error
	check := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	var err error
	if !own {
		m.duration, err = meter.Float64Histogram(DurationName, metric.WithUnit("s"),
			metric.WithDescription(DurationDescription),
			metric.WithExplicitBucketBoundaries(durationBuckets...))
		check(err)
	}
	requests, err := meter.Int64ObservableCounter("tenantwall.http.server.requests", metric.WithUnit("{request}"),
		metric.WithDescription("Requests served to a tenant, by tenant and status class."))
	check(err)
	m.audit, err = meter.Int64Counter("tenantwall.audit.events", metric.WithUnit("{event}"),
		metric.WithDescription("Audit events (cross-tenant attempts, unknown hosts, …) by kind and request tenant."))
	check(err)
	cacheGets, err := meter.Int64ObservableCounter("tenantwall.cache.gets", metric.WithUnit("{get}"),
		metric.WithDescription("Read-through cache gets by tenant and result (hit, miss)."))
	check(err)
	resolves, err := meter.Int64ObservableCounter("tenantwall.resolve.cache", metric.WithUnit("{resolution}"),
		metric.WithDescription("Tenant resolutions by lookup-cache result (hit, miss)."))
	check(err)
	lookups, err := meter.Int64ObservableCounter("tenantwall.resolve.lookups", metric.WithUnit("{lookup}"),
		metric.WithDescription("Tenant store lookups by result (ok, error)."))
	check(err)
	objects, err := meter.Int64ObservableGauge("tenantwall.blob.objects", metric.WithUnit("{object}"),
		metric.WithDescription("Stored objects by tenant, as last accounted by blobstore."))
	check(err)
	bytes, err := meter.Int64ObservableGauge("tenantwall.blob.bytes", metric.WithUnit("By"),
		metric.WithDescription("Stored bytes by tenant, as last accounted by blobstore."))
	check(err)
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w: creating instruments: %w", ErrConfig, errs[0])
	}
	set := func(k, v string) metric.ObserveOption {
		return metric.WithAttributeSet(attribute.NewSet(attribute.String(k, v)))
	}
	hit, miss, ok, failed := set("cache.result", "hit"), set("cache.result", "miss"), set("lookup.result", "ok"), set("lookup.result", "error")
	if _, err := meter.RegisterCallback(func(_ context.Context, obs metric.Observer) error {
		m.tenants.each(func(s *series) {
			for i := range s.requests {
				n := s.requests[i].Load()
				if s.hist != nil {
					n = s.hist[i].count()
				}
				if n > 0 {
					obs.ObserveInt64(requests, n, s.requestAttr[i])
				}
			}
			for i := range s.cache {
				if n := s.cache[i].Load(); n > 0 {
					obs.ObserveInt64(cacheGets, n, s.options().cacheAttr[i])
				}
			}
		})
		obs.ObserveInt64(resolves, m.resolveHits.Load(), hit)
		obs.ObserveInt64(resolves, m.resolveMisses.Load(), miss)
		obs.ObserveInt64(lookups, m.lookupsOK.Load(), ok)
		obs.ObserveInt64(lookups, m.lookupsFailed.Load(), failed)
		m.observeUsage(obs, objects, bytes)
		return nil
	}, requests, cacheGets, resolves, lookups, objects, bytes); err != nil {
		return nil, fmt.Errorf("%w: registering the callback: %w", ErrConfig, err)
	}
	if own {
		if err := o.reader.ReadDurationsFrom(m.durationPoints); err != nil {
			return nil, fmt.Errorf("%w: WithDurationReader: %w", ErrConfig, err)
		}
	}
	return m, nil
}
