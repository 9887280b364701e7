// Package telemetry records per-tenant metrics through the OpenTelemetry
// metric API, and puts the tenant on trace spans under the names slog
// uses. It depends on the API only: the application chooses the SDK and
// the exporter (the reference server serves Prometheus at /metrics).
//
//	m, _ := telemetry.New(otel.GetMeterProvider())
//	res, _ := resolve.New(store, resolve.WithObserver(m), resolve.WithAuditor(m.Auditor(nil)))
//	handler := res.Middleware(m.Middleware(app))    // below resolve
//	cache, _ := cachekey.NewCache[T](ks, ttl, cachekey.WithObserver(m))
//	files, _ := blobstore.New(bucket, blobstore.WithObserver(m))
//
// Metrics implements the observer interfaces of resolve, cachekey and
// blobstore by its method names alone, so none of those packages imports
// OpenTelemetry and this one imports none of them.
//
// # Instruments
//
//	tenantwall.http.server.requests          counter    tenant.id, http.status_class
//	tenantwall.http.server.request.duration  histogram  tenant.id, http.status_class (seconds)
//	tenantwall.audit.events                  counter    tenant.id, audit.kind
//	tenantwall.cache.gets                    counter    tenant.id, cache.result (hit, miss)
//	tenantwall.blob.objects, .blob.bytes     gauges     tenant.id
//	tenantwall.resolve.cache                 counter    cache.result (hit, miss)
//	tenantwall.resolve.lookups               counter    lookup.result (ok, error)
//
// Request, cache and resolve counts are kept in atomic counters that the
// SDK reads at collection (observable counters): an SDK Add with
// attributes costs hundreds of nanoseconds on the request path, an atomic
// add a few. By default the duration histogram is an SDK Record, 0.3–0.5
// µs of CPU per request in OpenTelemetry Go 1.47, most of
// the middleware's cost. The API has no histogram a library can feed
// pre-aggregated, so two ways out: WithDurationReader, with the SDK's
// Producer from telemetry/otelsdk, keeps the histogram here in per-series
// atomic buckets (~20 ns; the same name, bounds and labels,
// cumulative, no exemplars) and counts requests from its buckets; or
// WithDurationHistogram(false) leaves it out. What remains per request —
// two monotonic clock reads, the tenant label lookup, the span check and
// the status writer — is measured in BENCHMARKS.md.
//
// # Security
//
// A label an attacker controls can take a metrics backend down (one
// series per value). The tenant label therefore only ever holds:
//
//   - the ID of the tenant in the context, which only resolve puts there,
//     after the tenant store knew the tenant, and only if it is a canonical
//     UUID (tenant.ValidateID);
//   - NoTenant ("none") for a context without a tenant: requests refused
//     by resolve — unknown hosts, forged or unknown tenant headers,
//     malformed hosts — are counted only through the audit hook, under
//     this value; no host, header, slug or path becomes a label value;
//   - Overflow ("overflow") for every tenant past WithMaxTenants distinct
//     values (default DefaultMaxTenants, 1,000): the first n tenants seen
//     by the process keep their own value for its lifetime, later ones are
//     counted together. Size the cap to the number of tenants you expect
//     to watch one by one; the SDK's own cardinality limit is a second
//     fence behind it.
//
// Audit events are labelled by the tenant of their context, never by the
// Event's TenantID or OwnerID (the owner of a resource reached for is not
// a label), and only tenantwall's own event kinds have their own
// audit.kind value; any other kind is "other". Status classes are the six
// fixed values 1xx–5xx and "other".
//
// # Traces
//
// Middleware sets tenant.id and tenant.slug (Attributes) on the request's
// span when one is recording: the keys tenant.Attr gives in slog (group
// "tenant", keys "id" and "slug"), so a trace and the request's log lines
// name the tenant alike. A span never gets the tenant's name or branding.
//
// # Errors
//
// ErrConfig, from New, for an invalid option or an instrument the
// MeterProvider refused.
//
// # Testing
//
// The tests collect through the SDK's ManualReader and fail if any label
// value comes from an unknown host or a forged header, or if the tenant
// label takes more values than the cap.
package telemetry
