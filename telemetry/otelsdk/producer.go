package otelsdk

import (
	"context"
	"iter"
	"sync"
	"time"

	"go.opentelemetry.io/otel/sdk/instrumentation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/tenantwall/tenantwall/telemetry"
)

var (
	_ sdkmetric.Producer       = (*Producer)(nil)
	_ telemetry.DurationReader = (*Producer)(nil)
)

// Producer exports the request duration histogram that a
// telemetry.Metrics keeps itself (telemetry.WithDurationReader) to the
// OpenTelemetry SDK: give it to the reader (sdkmetric.WithProducer, or the
// Prometheus exporter's WithProducer) and to telemetry.New.
//
// Each Produce reads the histogram's atomic counters and returns them as
// tenantwall.http.server.request.duration in scope telemetry.ScopeName:
// cumulative (whatever temporality the reader prefers), bounds
// telemetry.DurationBounds, with min, max and sum, without exemplars, and
// only for series with at least one observation. Before telemetry.New has
// been given it, it produces nothing.
//
// A Producer is safe for concurrent use and exports at most one Metrics.
// It holds nothing to close.
type Producer struct {
	mu     sync.Mutex
	points iter.Seq[telemetry.DurationPoint]
	start  time.Time
}

// NewProducer returns a Producer that exports nothing until it is given
// to telemetry.New.
func NewProducer() *Producer { return &Producer{} }

// ReadDurationsFrom implements telemetry.DurationReader; telemetry.New
// calls it. A second call returns ErrBound.
func (p *Producer) ReadDurationsFrom(points iter.Seq[telemetry.DurationPoint]) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.points != nil {
		return ErrBound
	}
	p.points, p.start = points, time.Now()
	return nil
}

// Produce implements sdkmetric.Producer.
func (p *Producer) Produce(context.Context) ([]metricdata.ScopeMetrics, error) {
	p.mu.Lock()
	points, start := p.points, p.start
	p.mu.Unlock()
	if points == nil {
		return nil, nil
	}
	bounds, now := telemetry.DurationBounds(), time.Now()
	var dps []metricdata.HistogramDataPoint[float64]
	for pt := range points {
		dps = append(dps, metricdata.HistogramDataPoint[float64]{
			Attributes:   pt.Attributes,
			StartTime:    start,
			Time:         now,
			Count:        pt.Count,
			Bounds:       bounds,
			BucketCounts: pt.BucketCounts,
			Min:          metricdata.NewExtrema(pt.Min),
			Max:          metricdata.NewExtrema(pt.Max),
			Sum:          pt.Sum,
		})
	}
	if len(dps) == 0 {
		return nil, nil
	}
	return []metricdata.ScopeMetrics{{
		Scope: instrumentation.Scope{Name: telemetry.ScopeName},
		Metrics: []metricdata.Metrics{{
			Name:        telemetry.DurationName,
			Description: telemetry.DurationDescription,
			Unit:        "s",
			Data:        metricdata.Histogram[float64]{DataPoints: dps, Temporality: metricdata.CumulativeTemporality},
		}},
	}}, nil
}
