package telemetry

import (
	"context"
	"maps"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/tenantwall/tenantwall/tenant"
)

// Label values that are not a tenant ID.
const (
	// NoTenant is the tenant label of a measurement whose context carries
	// no tenant: a request refused before it was resolved (an unknown host,
	// a forged header), or code outside a tenant.
	NoTenant = "none"
	// Overflow is the tenant label of every tenant past the cap
	// (WithMaxTenants) on distinct tenant values.
	Overflow = "overflow"
)

// TenantKey is the attribute key of the tenant label on metrics and of the
// tenant's ID on spans; slugKey the key of its slug on spans. They match
// the names tenant.Attr gives in slog ("tenant" group, "id" and "slug").
const (
	TenantKey = attribute.Key("tenant.id")
	slugKey   = attribute.Key("tenant.slug")
)

// statusClasses are the status_class values; index code/100, 0 for a code
// outside 100–599.
var statusClasses = [6]string{"other", "1xx", "2xx", "3xx", "4xx", "5xx"}

// auditKinds are the audit event kinds that get a label value of their
// own; any other kind (a user component may report one) is "other", so an
// Event's Kind cannot grow the label's values either.
var auditKinds = [...]tenant.EventKind{tenant.EventCrossTenant, tenant.EventUnknownHost,
	tenant.EventSuspended, tenant.EventLookupFailure, tenant.EventPlatformAccess}

// series holds one tenant label value: its counters, which the SDK reads
// at collection through callbacks (an atomic add on the request path costs
// a few nanoseconds, an SDK Add with attributes hundreds), and the
// measurement options of its points, built once (the rare ones on first
// use) so that recording allocates nothing after that.
type series struct {
	value    string
	requests [len(statusClasses)]atomic.Int64 // unused with hist, which counts requests
	cache    [2]atomic.Int64                  // miss, hit

	duration    [len(statusClasses)][]metric.RecordOption // the SDK's histogram; nil with hist
	classSet    [len(statusClasses)]attribute.Set         // tenant and status class
	requestAttr [len(statusClasses)]metric.ObserveOption
	hist        *[len(statusClasses)]histogram // nil unless WithDurationReader
	rare        atomic.Pointer[rareOptions]    // built on first use
}

// rareOptions are the measurement options of what many tenants never
// have: audit events, cache gets and stored usage. Built on first use
// (an audit event, or a collection that finds a count), they keep the
// series of a tenant that only makes requests at half the size, and the
// garbage collector's work with it: every series lives as long as the
// process.
type rareOptions struct {
	audit     [len(auditKinds) + 1][]metric.AddOption
	cacheAttr [2]metric.ObserveOption // miss, hit
	plain     metric.ObserveOption    // the tenant alone
}

// options returns the series' rare options, building them once.
func (s *series) options() *rareOptions {
	if o := s.rare.Load(); o != nil {
		return o
	}
	o := &rareOptions{}
	tv := TenantKey.String(s.value)
	for i := range o.audit {
		kind := "other"
		if i < len(auditKinds) {
			kind = string(auditKinds[i])
		}
		o.audit[i] = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(tv, attribute.String("audit.kind", kind)))}
	}
	o.cacheAttr[0] = metric.WithAttributeSet(attribute.NewSet(tv, attribute.String("cache.result", "miss")))
	o.cacheAttr[1] = metric.WithAttributeSet(attribute.NewSet(tv, attribute.String("cache.result", "hit")))
	o.plain = metric.WithAttributeSet(attribute.NewSet(tv))
	if !s.rare.CompareAndSwap(nil, o) {
		return s.rare.Load()
	}
	return o
}

func newSeries(value string, own bool) *series {
	s := &series{value: value}
	if own {
		s.hist = newHistograms()
	}
	tv := TenantKey.String(value)
	for i, c := range statusClasses {
		s.classSet[i] = attribute.NewSet(tv, attribute.String("http.status_class", c))
		o := metric.WithAttributeSet(s.classSet[i])
		if !own { // the SDK's histogram
			s.duration[i] = []metric.RecordOption{o}
		}
		s.requestAttr[i] = o
	}
	return s
}

// tenants maps tenant IDs to their series, at most max of them; every
// further tenant shares the overflow series. Reads take no lock: the map
// is replaced, never changed, when a tenant is added (at most max times).
type tenants struct {
	m        atomic.Pointer[map[string]*series]
	max      int
	mu       sync.Mutex // serialises additions
	none     *series
	overflow *series
	own      bool // series keep their own duration histograms
}

func newTenants(max int, own bool) *tenants {
	ts := &tenants{max: max, own: own, none: newSeries(NoTenant, own), overflow: newSeries(Overflow, own)}
	ts.m.Store(&map[string]*series{})
	return ts
}

// of returns the series of the context's tenant. The label value is only
// ever a tenant ID taken from the context — put there by resolve after the
// store knew the tenant — and checked to be a canonical UUID; never
// anything a client sent.
func (ts *tenants) of(ctx context.Context) *series {
	id, err := tenant.IDFromContext(ctx)
	if err != nil {
		return ts.none
	}
	return ts.byID(id)
}

// byID returns the series of the tenant with this ID: its own if the ID is
// a canonical UUID and the cap allows, else overflow (past the cap) or
// none (not an ID).
func (ts *tenants) byID(id string) *series {
	if s, ok := (*ts.m.Load())[id]; ok {
		return s
	}
	return ts.add(id)
}

// each calls f with every series: none, overflow, then the tenants.
func (ts *tenants) each(f func(*series)) {
	f(ts.none)
	f(ts.overflow)
	for _, s := range *ts.m.Load() {
		f(s)
	}
}

func (ts *tenants) add(id string) *series {
	if tenant.ValidateID(id) != nil {
		return ts.none
	}
	// The map only grows: once full, every tenant past the cap is
	// overflow without taking the lock (else each of their requests,
	// cache gets and audit events would queue on it).
	if len(*ts.m.Load()) >= ts.max {
		return ts.overflow
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	old := *ts.m.Load()
	if s, ok := old[id]; ok {
		return s
	}
	if len(old) >= ts.max {
		return ts.overflow
	}
	m := maps.Clone(old)
	s := newSeries(id, ts.own)
	m[id] = s
	ts.m.Store(&m)
	return s
}
