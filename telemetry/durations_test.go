package telemetry_test

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/tenantwall/tenantwall/telemetry"
	"github.com/tenantwall/tenantwall/telemetry/otelsdk"
	"github.com/tenantwall/tenantwall/tenant"
	"github.com/tenantwall/tenantwall/tenant/tenanttest"
)

// ownMetrics is a Metrics that keeps the duration histogram itself, and
// the reader its Producer feeds.
func ownMetrics(t *testing.T, opts ...telemetry.Option) (*telemetry.Metrics, *sdkmetric.ManualReader) {
	t.Helper()
	p := otelsdk.NewProducer()
	reader := sdkmetric.NewManualReader(sdkmetric.WithProducer(p))
	m, err := telemetry.New(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)), append(opts, telemetry.WithDurationReader(p))...)
	require.NoError(t, err)
	return m, reader
}

// durationPoints returns the duration histogram's points by attribute set.
func durationPoints(t *testing.T, r *sdkmetric.ManualReader) map[attribute.Distinct]metricdata.HistogramDataPoint[float64] {
	t.Helper()
	out := map[attribute.Distinct]metricdata.HistogramDataPoint[float64]{}
	for _, sm := range collect(t, r).ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != telemetry.DurationName {
				continue
			}
			assert.Equal(t, telemetry.ScopeName, sm.Scope.Name)
			assert.Equal(t, "s", m.Unit)
			h, ok := m.Data.(metricdata.Histogram[float64])
			require.True(t, ok, "%s is a %T", m.Name, m.Data)
			assert.Equal(t, metricdata.CumulativeTemporality, h.Temporality)
			for _, p := range h.DataPoints {
				_, dup := out[p.Attributes.Equivalent()]
				require.False(t, dup, "two points for %v", p.Attributes.ToSlice())
				out[p.Attributes.Equivalent()] = p
			}
		}
	}
	return out
}

func TestTheOwnHistogramCountsExactlyWhatTheSDKCounts(t *testing.T) {
	sdkReader := sdkmetric.NewManualReader()
	viaSDK, err := telemetry.New(sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkReader)))
	require.NoError(t, err)
	own, ownReader := ownMetrics(t)

	bg := context.Background()
	ctxs := []context.Context{bg, tenant.NewContext(bg, tenanttest.NewTenant("acme")), tenant.NewContext(bg, tenanttest.NewTenant("globex"))}
	codes := []int{200, 204, 301, 404, 500, 101, 0, 999}
	// Every bound, a nanosecond either side, zero, and values past the
	// last bound; then random ones.
	var ds []time.Duration
	for _, b := range telemetry.DurationBounds() {
		d := time.Duration(b * 1e9)
		ds = append(ds, d-1, d, d+1)
	}
	ds = append(ds, 0, 1, 20*time.Second, time.Hour)
	rnd := rand.New(rand.NewPCG(17, 17))
	for range 5000 {
		ds = append(ds, time.Duration(rnd.Int64N(int64(12*time.Second))))
	}
	for i, d := range ds {
		ctx, code := ctxs[i%len(ctxs)], codes[(i/len(ctxs))%len(codes)]
		viaSDK.RecordDuration(ctx, code, d)
		own.RecordDuration(ctx, code, d)
	}

	want, got := durationPoints(t, sdkReader), durationPoints(t, ownReader)
	require.NotEmpty(t, want)
	require.Len(t, got, len(want))
	var total uint64
	for k, w := range want {
		g, ok := got[k]
		require.True(t, ok, "no point for %v", w.Attributes.ToSlice())
		name := w.Attributes.Encoded(attribute.DefaultEncoder())
		assert.Equal(t, w.Count, g.Count, name)
		assert.Equal(t, w.Bounds, g.Bounds, name)
		assert.Equal(t, w.BucketCounts, g.BucketCounts, name)
		assert.Equal(t, w.Min, g.Min, name)
		assert.Equal(t, w.Max, g.Max, name)
		assert.InEpsilon(t, w.Sum, g.Sum, 1e-12, name)
		total += g.Count
	}
	assert.Equal(t, uint64(len(ds)), total)
}

func TestTheOwnHistogramLosesNothingUnderConcurrentRecordsAndReads(t *testing.T) {
	m, reader := ownMetrics(t)
	ctx := tenant.NewContext(context.Background(), tenanttest.NewTenant("acme"))
	const workers, each = 8, 2000
	stop := make(chan struct{})
	var readers sync.WaitGroup
	readers.Add(1)
	go func() { // collections while recording: -race checks the reads
		defer readers.Done()
		for {
			select {
			case <-stop:
				return
			default:
				var rm metricdata.ResourceMetrics
				assert.NoError(t, reader.Collect(context.Background(), &rm))
			}
		}
	}()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				m.RecordDuration(ctx, 200, time.Duration(w*each+i)*time.Microsecond)
			}
		}()
	}
	wg.Wait()
	close(stop)
	readers.Wait()

	ps := durationPoints(t, reader)
	require.Len(t, ps, 1)
	for _, p := range ps {
		const n = workers * each
		assert.Equal(t, uint64(n), p.Count)
		var sum uint64
		for _, c := range p.BucketCounts {
			sum += c
		}
		assert.Equal(t, uint64(n), sum)
		assert.InEpsilon(t, (time.Duration(n*(n-1)/2) * time.Microsecond).Seconds(), p.Sum, 1e-12)
		assert.Equal(t, metricdata.NewExtrema(0.0), p.Min)
		assert.Equal(t, metricdata.NewExtrema((time.Duration(n-1) * time.Microsecond).Seconds()), p.Max)
	}
}

func TestAProducerExportsOneMetricsOnly(t *testing.T) {
	p := otelsdk.NewProducer()
	ps, err := p.Produce(context.Background())
	require.NoError(t, err)
	assert.Empty(t, ps, "an unbound producer produces nothing")
	mp := sdkmetric.NewMeterProvider()
	_, err = telemetry.New(mp, telemetry.WithDurationReader(p))
	require.NoError(t, err)
	_, err = telemetry.New(mp, telemetry.WithDurationReader(p))
	assert.ErrorIs(t, err, otelsdk.ErrBound)
	assert.ErrorIs(t, err, telemetry.ErrConfig)
	_, err = telemetry.New(mp, telemetry.WithDurationReader(nil))
	assert.ErrorIs(t, err, telemetry.ErrConfig)
}

func TestConcurrentFirstAuditEventsOfATenantAreAllCounted(t *testing.T) {
	h := newHarness(t)
	a := h.metrics.Auditor(tenant.AuditorFunc(func(context.Context, tenant.Event) {}))
	ctx := tenant.NewContext(context.Background(), h.globex)
	const n = 16
	var wg sync.WaitGroup
	for range n { // they race to build the series' audit options
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.Audit(ctx, tenant.Event{Kind: tenant.EventCrossTenant})
		}()
	}
	wg.Wait()
	ps := points(collect(t, h.reader))
	assert.Equal(t, float64(n), value(ps, "tenantwall.audit.events", map[string]string{"tenant.id": h.globex.ID, "audit.kind": "cross_tenant"}))
}

// The bounds are written once, in nanoseconds; in seconds they must be
// OpenTelemetry's HTTP semantic-convention buckets exactly, as the
// decimal literals parse.
func TestDurationBoundsAreTheSemanticConventionBuckets(t *testing.T) {
	want := []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}
	assert.Equal(t, want, telemetry.DurationBounds())
}
