package telemetry

import (
	"context"

	"go.opentelemetry.io/otel/metric"

	"github.com/tenantwall/tenantwall/tenant"
)

// Auditor returns an Auditor that counts each event in
// tenantwall.audit.events, by kind and by the tenant of the event's
// context, then passes it to next (tenant.DefaultAuditor when nil).
//
// The tenant label comes from the context, never from the Event's
// TenantID or OwnerID fields: an unknown host is counted under NoTenant,
// and the owner of a resource reached for is not a label at all. Kinds
// other than tenantwall's own are counted as "other".
func (m *Metrics) Auditor(next tenant.Auditor) tenant.Auditor {
	next = tenant.OrDefault(next)
	return tenant.AuditorFunc(func(ctx context.Context, e tenant.Event) {
		i := len(auditKinds)
		for k, kind := range auditKinds {
			if e.Kind == kind {
				i = k
				break
			}
		}
		m.audit.Add(ctx, 1, m.tenants.of(ctx).options().audit[i]...)
		next.Audit(ctx, e)
	})
}

// ResolveCache implements resolve.Observer: it counts a resolution in
// tenantwall.resolve.cache by result. It has no tenant label: a miss may
// be for a host that belongs to no tenant.
func (m *Metrics) ResolveCache(_ context.Context, hit bool) {
	if hit {
		m.resolveHits.Add(1)
	} else {
		m.resolveMisses.Add(1)
	}
}

// ResolveLookup implements resolve.Observer: it counts a store lookup in
// tenantwall.resolve.lookups by result.
func (m *Metrics) ResolveLookup(_ context.Context, err error) {
	if err != nil {
		m.lookupsFailed.Add(1)
	} else {
		m.lookupsOK.Add(1)
	}
}

// CacheGet implements cachekey.Observer: it counts a read-through cache
// Get in tenantwall.cache.gets by tenant and result.
func (m *Metrics) CacheGet(ctx context.Context, hit bool) {
	i := 0
	if hit {
		i = 1
	}
	m.tenants.of(ctx).cache[i].Add(1)
}

// BlobUsage implements blobstore.Observer: it keeps the context tenant's
// stored objects and bytes, which tenantwall.blob.objects and
// tenantwall.blob.bytes report at each collection. Tenants past the cap
// are reported summed under Overflow; a context without a tenant is
// ignored.
func (m *Metrics) BlobUsage(ctx context.Context, objects, bytes int64) {
	id, err := tenant.IDFromContext(ctx)
	if err != nil {
		return
	}
	s := m.tenants.of(ctx)
	if s == m.tenants.none {
		return
	}
	m.usageMu.Lock()
	m.usage[id] = blobUsage{objects: objects, bytes: bytes, s: s}
	m.usageMu.Unlock()
}

func (m *Metrics) observeUsage(obs metric.Observer, objects, bytes metric.Int64Observable) {
	m.usageMu.Lock()
	var over blobUsage
	for _, u := range m.usage {
		if u.s == m.tenants.overflow {
			over.objects += u.objects
			over.bytes += u.bytes
			continue
		}
		obs.ObserveInt64(objects, u.objects, u.s.options().plain)
		obs.ObserveInt64(bytes, u.bytes, u.s.options().plain)
	}
	m.usageMu.Unlock()
	if over != (blobUsage{}) {
		obs.ObserveInt64(objects, over.objects, m.tenants.overflow.options().plain)
		obs.ObserveInt64(bytes, over.bytes, m.tenants.overflow.options().plain)
	}
}
