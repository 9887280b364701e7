package telemetry

import (
	"fmt"
	"iter"
	"math"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
)

// durationBoundsNs are OpenTelemetry's HTTP semantic-convention buckets
// in nanoseconds, the one place they are written (durationBuckets is
// them in seconds): the histogram Metrics keeps itself
// (WithDurationReader) compares the integer time.Duration against them,
// which puts an observation in the same bucket as the SDK does with its
// value in seconds (each bound is a whole number of nanoseconds, and an
// upper bound belongs to its bucket).
var durationBoundsNs = [...]int64{5e6, 10e6, 25e6, 50e6, 75e6, 100e6, 250e6, 500e6, 750e6, 1e9, 2.5e9, 5e9, 7.5e9, 10e9}

// DurationBounds returns the explicit bucket boundaries of
// tenantwall.http.server.request.duration, in seconds (OpenTelemetry's
// HTTP semantic-convention buckets). The slice is a copy.
func DurationBounds() []float64 {
	b := make([]float64, len(durationBuckets))
	copy(b, durationBuckets)
	return b
}

// DurationPoint is one tenant × status-class series of the request
// duration histogram that Metrics keeps itself, cumulative since New: what
// a DurationReader exports.
type DurationPoint struct {
	// Attributes are tenant.id and http.status_class, the attributes the
	// SDK histogram has; the same Set (built once) on every read.
	Attributes attribute.Set
	// BucketCounts has len(DurationBounds())+1 counts; bucket i holds the
	// durations d with bound[i-1] < d <= bound[i].
	BucketCounts []uint64
	// Count is the sum of BucketCounts.
	Count uint64
	// Sum, Min and Max are in seconds.
	Sum, Min, Max float64
}

// A DurationReader exports the request duration histogram that Metrics
// aggregates itself when created WithDurationReader (the reference
// implementation is telemetry/otelsdk's Producer, which hands it to the
// OpenTelemetry SDK as a metric producer).
type DurationReader interface {
	// ReadDurationsFrom is called once, by New, with the series of one
	// Metrics. Each iteration of points reads the current values; it is
	// safe to iterate concurrently with recording, and yields only series
	// with at least one observation. An error makes New fail.
	ReadDurationsFrom(points iter.Seq[DurationPoint]) error
}

// WithDurationReader makes Metrics keep the request duration histogram
// itself, in per-series atomic bucket counters, instead of recording it
// through the MeterProvider: an SDK Record costs 0.3–0.5 µs of CPU per
// request (attribute deduplication and a hashed lookup on every call), an
// atomic bucket add with its sum, min and max ~20 ns (see BENCHMARKS.md).
// The histogram then reaches the exporter only through r; its buckets are
// DurationBounds, it has no exemplars, and the MeterProvider's views do not
// apply to it. r must not be nil, and is not used with
// WithDurationHistogram(false).
func WithDurationReader(r DurationReader) Option {
	return func(o *options) error {
		if r == nil {
			return fmt.Errorf("%w: WithDurationReader(nil)", ErrConfig)
		}
		o.reader = r
		return nil
	}
}

// histogram is one series' duration histogram, kept in atomic counters.
// A read while requests are recorded may see an observation in its bucket
// and not yet in the sum (each field is exact on its own); every
// observation is in the next read.
//
// The buckets' total is also the series' request count
// (tenantwall.http.server.requests), so a request costs no separate
// counter. The fields are in the order a fast request touches them: the
// sum, min, max and first buckets share a cache line.
type histogram struct {
	sum      atomic.Int64 // nanoseconds: 292 years of request time before it wraps
	min, max atomic.Int64
	buckets  [len(durationBoundsNs) + 1]atomic.Uint64
}

// count is the number of observations.
func (h *histogram) count() int64 {
	var n uint64
	for i := range h.buckets {
		n += h.buckets[i].Load()
	}
	return int64(n)
}

func newHistograms() *[len(statusClasses)]histogram {
	h := new([len(statusClasses)]histogram)
	for i := range h {
		h[i].min.Store(math.MaxInt64)
		h[i].max.Store(math.MinInt64)
	}
	return h
}

func (h *histogram) record(d time.Duration) {
	ns := int64(d)
	i := 0
	for i < len(durationBoundsNs) && ns > durationBoundsNs[i] {
		i++
	}
	h.buckets[i].Add(1)
	h.sum.Add(ns)
	for cur := h.min.Load(); ns < cur && !h.min.CompareAndSwap(cur, ns); cur = h.min.Load() {
	}
	for cur := h.max.Load(); ns > cur && !h.max.CompareAndSwap(cur, ns); cur = h.max.Load() {
	}
}

// durationPoints yields the non-empty histograms of every series.
func (m *Metrics) durationPoints(yield func(DurationPoint) bool) {
	stop := false
	m.tenants.each(func(s *series) {
		if stop {
			return
		}
		for c := range s.hist {
			h := &s.hist[c]
			p := DurationPoint{Attributes: s.classSet[c], BucketCounts: make([]uint64, len(h.buckets))}
			for i := range h.buckets {
				p.BucketCounts[i] = h.buckets[i].Load()
				p.Count += p.BucketCounts[i]
			}
			if p.Count == 0 {
				continue
			}
			p.Sum = time.Duration(h.sum.Load()).Seconds()
			p.Min = time.Duration(h.min.Load()).Seconds()
			p.Max = time.Duration(h.max.Load()).Seconds()
			if !yield(p) {
				stop = true
				return
			}
		}
	})
}
