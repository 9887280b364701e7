package resolve_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/resolve"
	"github.com/tenantwall/tenantwall/tenant"
	"github.com/tenantwall/tenantwall/tenant/tenanttest"
)

type countingObserver struct {
	mu                         sync.Mutex
	hits, misses, lookups, bad int
}

func (o *countingObserver) ResolveCache(_ context.Context, hit bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if hit {
		o.hits++
	} else {
		o.misses++
	}
}

func (o *countingObserver) ResolveLookup(_ context.Context, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.lookups++
	if err != nil {
		o.bad++
	}
}

func TestObserverCountsHitsMissesAndLookups(t *testing.T) {
	f := newFixture(t)
	obs := &countingObserver{}
	r := f.resolver(t, resolve.WithObserver(obs))
	ctx := context.Background()
	_, err := r.Resolve(ctx, "acme.app.example.com") // miss, lookup
	require.NoError(t, err)
	_, err = r.Resolve(ctx, "acme.app.example.com") // hit on the raw host
	require.NoError(t, err)
	_, err = r.Resolve(ctx, "ACME.app.example.com") // hit after normalising
	require.NoError(t, err)
	_, err = r.Resolve(ctx, "nobody.app.example.com") // miss, lookup, negative entry
	require.ErrorIs(t, err, resolve.ErrUnknownHost)
	_, err = r.Resolve(ctx, "nobody.app.example.com") // negative hit
	require.ErrorIs(t, err, resolve.ErrUnknownHost)

	f.store.fail.Store(true)
	_, err = r.Resolve(ctx, "globex.app.example.com") // miss, failed lookup
	require.ErrorIs(t, err, resolve.ErrLookup)

	assert.Equal(t, 3, obs.hits)
	assert.Equal(t, 3, obs.misses)
	assert.Equal(t, 3, obs.lookups)
	assert.Equal(t, 1, obs.bad)
}

func TestObserverMustNotBeNil(t *testing.T) {
	_, err := resolve.New(newFixture(t).store, resolve.WithObserver(nil))
	require.ErrorIs(t, err, resolve.ErrConfig)
}

// servingObserver is an Observer and a RequestObserver that records what
// Middleware hands it. Its value for a tenant is a fresh pointer per ObserveTenant
// call, so a test can tell a cached value from a new one.
type servingObserver struct {
	countingObserver
	observed []string // tenant IDs, in call order
	served   []handed
}

type handed struct {
	tenantID string
	v        *string
	arrived  time.Time
}

func (o *servingObserver) ObserveTenant(id string) any {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.observed = append(o.observed, id)
	return &id
}

func (o *servingObserver) ServeTenant(next http.Handler, w http.ResponseWriter, req *http.Request, v any, arrived time.Time) {
	id, _ := tenant.IDFromContext(req.Context())
	o.mu.Lock()
	o.served = append(o.served, handed{tenantID: id, v: v.(*string), arrived: arrived})
	o.mu.Unlock()
	next.ServeHTTP(w, req)
}

func TestRequestObserverServesWhatMiddlewareLetsThrough(t *testing.T) {
	f := newFixture(t)
	obs := &servingObserver{}
	r := f.resolver(t, resolve.WithObserver(obs), resolve.WithRequestObserver(obs))
	var reached []string
	h := r.Middleware(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		reached = append(reached, tenant.MustFromContext(req.Context()).ID)
	}))
	get := func(host string) int {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/", nil)
		req.Host = host
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	before := time.Now()
	for _, host := range []string{"acme.app.example.com", "acme.app.example.com", "ACME.app.example.com:443",
		f.acmeDomain, "globex.app.example.com", "nobody.app.example.com", "nobody.app.example.com",
		"dormant.app.example.com", "dormant.app.example.com", "bad host"} {
		get(host)
	}
	after := time.Now()

	assert.Equal(t, []string{f.acme.ID, f.acme.ID, f.acme.ID, f.acme.ID, f.globex.ID}, reached,
		"only active tenants' requests are served, each once")
	require.Len(t, obs.served, len(reached), "every request served went through ServeTenant, no other")
	for i, s := range obs.served {
		assert.Equal(t, reached[i], s.tenantID, "the request's context carries the tenant")
		assert.Equal(t, reached[i], *s.v, "the value is the one ObserveTenant gave for that tenant")
		assert.False(t, s.arrived.Before(before) || s.arrived.After(after), "arrived %v is not within the request", s.arrived)
	}
	// One value per cache entry: acme's subdomain (filled once, then
	// hit twice, the second time after normalising), acme's custom
	// domain, globex. Unknown hosts and suspended tenants get none.
	assert.Equal(t, []string{f.acme.ID, f.acme.ID, f.globex.ID}, obs.observed)
	assert.Same(t, obs.served[0].v, obs.served[1].v, "a hit hands over the value stored with the entry")
	assert.Same(t, obs.served[0].v, obs.served[2].v)

	// After an invalidation the entry is filled again, with a new value.
	require.NoError(t, r.InvalidateTenant(f.acme.ID))
	get("acme.app.example.com")
	require.Len(t, obs.served, 6)
	assert.Equal(t, f.acme.ID, *obs.served[5].v)
	assert.NotSame(t, obs.served[0].v, obs.served[5].v)
}

func TestRequestObserverWithoutCacheIsAskedEveryRequest(t *testing.T) {
	f := newFixture(t)
	obs := &servingObserver{}
	r := f.resolver(t, resolve.WithRequestObserver(obs), resolve.WithCache(0, time.Minute, time.Minute))
	h := r.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for range 3 {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "http://acme.app.example.com/", nil))
	}
	require.Len(t, obs.served, 3)
	assert.Equal(t, []string{f.acme.ID, f.acme.ID, f.acme.ID}, obs.observed)
	for _, s := range obs.served {
		assert.Equal(t, f.acme.ID, *s.v)
	}
}

// slowDomainStore advances a test clock by cost on every domain lookup.
type slowDomainStore struct {
	*tenant.MemStore
	clock *atomic.Int64
	cost  time.Duration
}

func (s slowDomainStore) ByDomain(ctx context.Context, h string) (tenant.Tenant, tenant.Domain, error) {
	s.clock.Add(int64(s.cost))
	return s.MemStore.ByDomain(ctx, h)
}

// A header slug tried after the host strategies is looked up on the clock
// as it is after the host's store lookup, not as it was when the request
// arrived: an entry must not be served past its TTL by the time a lookup
// took (found by review: a suspended tenant served 2 s past its TTL).
func TestAHeaderTriedAfterAHostLookupSeesTheClockAfterIt(t *testing.T) {
	ctx := context.Background()
	mem := tenant.NewMemStore()
	acme := tenanttest.NewTenant("acme")
	require.NoError(t, mem.Create(ctx, acme))
	var clk atomic.Int64
	clk.Store(1)
	r, err := resolve.New(slowDomainStore{mem, &clk, 2 * time.Second},
		resolve.WithStrategies(resolve.CustomDomain, resolve.Header), resolve.WithHeader("X-Tenant"),
		resolve.WithTrustedProxies("10.0.0.0/8"), resolve.WithCache(100, time.Minute, time.Second), resolve.WithAuditor(discard{}))
	require.NoError(t, err)
	resolve.SetClock(r, clk.Load)
	h := r.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	get := func(host string) int {
		req := httptest.NewRequest("GET", "/", nil)
		req.Host, req.RemoteAddr = host, "10.1.2.3:1234"
		req.Header.Set("X-Tenant", "acme")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	require.Equal(t, http.StatusOK, get("a.unknown.test"))
	acme.Status = tenant.StatusSuspended
	require.NoError(t, mem.Update(ctx, acme)) // and this process misses the invalidation
	clk.Add(int64(time.Minute - time.Second)) // 1 s of the entry's TTL left
	assert.Equal(t, http.StatusForbidden, get("b.unknown.test"), "the host's lookup takes 2 s: the #acme entry expired during it")
}

func TestRequestObserverMustNotBeNil(t *testing.T) {
	_, err := resolve.New(newFixture(t).store, resolve.WithRequestObserver(nil))
	require.ErrorIs(t, err, resolve.ErrConfig)
}

// panickingObserver panics in ObserveTenant.
type panickingObserver struct{ servingObserver }

func (*panickingObserver) ObserveTenant(string) any { panic("observer bug") }

// A panic in ObserveTenant inside the lookup flight would end the process
// (singleflight re-panics on a goroutine of its own; found by review).
// It is recovered there, and surfaces on the request's goroutine, where
// net/http recovers it for that request alone.
func TestAPanickingObserverFailsTheRequestNotTheProcess(t *testing.T) {
	f := newFixture(t)
	r := f.resolver(t, resolve.WithRequestObserver(&panickingObserver{}))
	h := r.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	req := httptest.NewRequest("GET", "/", nil)
	req.Host = "acme.app.example.com"
	for range 2 { // the store's answer, then the cache's
		assert.PanicsWithValue(t, "observer bug", func() { h.ServeHTTP(httptest.NewRecorder(), req) })
	}
	_, err := r.Resolve(context.Background(), "globex.app.example.com") // fills the cache in a flight
	assert.NoError(t, err)
}
