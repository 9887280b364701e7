// Package otelsdk exports, through the OpenTelemetry SDK, the request
// duration histogram that telemetry.Metrics keeps itself.
//
// telemetry depends on the OpenTelemetry API only, and the API has no
// histogram a library can feed pre-aggregated: recorded through the SDK,
// the histogram costs 0.3–0.5 µs of CPU per request
// (BENCHMARKS.md). With telemetry.WithDurationReader, Metrics counts each
// request in per-tenant atomic buckets instead, and this package's
// Producer hands them to the SDK at each collection, as the SDK would have
// reported them (same name, unit, scope, attributes and bounds; the tests
// compare the two on the same observations):
//
//	p := otelsdk.NewProducer()
//	exporter, _ := prometheus.New(prometheus.WithProducer(p)) // or sdkmetric.NewManualReader(sdkmetric.WithProducer(p))
//	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
//	m, _ := telemetry.New(mp, telemetry.WithDurationReader(p))
//
// What differs from the SDK's histogram: the points are always cumulative;
// there are no exemplars; the MeterProvider's views and cardinality limit
// do not apply (telemetry's own cap on tenant values does, so the series
// are at most 6 status classes × (WithMaxTenants + 2)); and a collection
// that runs while requests are recorded may count a request in its bucket
// and not yet in the sum, which the next collection includes.
//
// # Security
//
// The Producer exports exactly the series Metrics keeps, labelled as the
// package telemetry documents: a tenant label is only ever a known,
// resolved tenant's ID, NoTenant or Overflow.
//
// # Errors
//
// ErrBound, through telemetry.New, when one Producer is given to a second
// Metrics.
package otelsdk
