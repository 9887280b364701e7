package resolve_test

import (
	"context"
	"errors"
	"fmt"
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

// countingStore wraps a MemStore, counts lookups, and can fail or block.
type countingStore struct {
	*tenant.MemStore
	lookups atomic.Int64
	fail    atomic.Bool
	gate    chan struct{} // if non-nil, lookups wait for it to close
	entered chan struct{} // if non-nil, receives once per lookup
}

var errStoreDown = errors.New("store down")

func (s *countingStore) before() error {
	s.lookups.Add(1)
	if s.entered != nil {
		s.entered <- struct{}{}
	}
	if s.gate != nil {
		<-s.gate
	}
	if s.fail.Load() {
		return errStoreDown
	}
	return nil
}

func (s *countingStore) ByID(ctx context.Context, id string) (tenant.Tenant, error) {
	if err := s.before(); err != nil {
		return tenant.Tenant{}, err
	}
	return s.MemStore.ByID(ctx, id)
}

func (s *countingStore) BySlug(ctx context.Context, slug string) (tenant.Tenant, error) {
	if err := s.before(); err != nil {
		return tenant.Tenant{}, err
	}
	return s.MemStore.BySlug(ctx, slug)
}

func (s *countingStore) ByDomain(ctx context.Context, host string) (tenant.Tenant, tenant.Domain, error) {
	if err := s.before(); err != nil {
		return tenant.Tenant{}, tenant.Domain{}, err
	}
	return s.MemStore.ByDomain(ctx, host)
}

type fixture struct {
	store                  *countingStore
	acme, globex, dormant  tenant.Tenant
	acmeDomain, pendingDom string
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{store: &countingStore{MemStore: tenant.NewMemStore()}}
	f.acme = tenanttest.NewTenant("acme")
	f.globex = tenanttest.NewTenant("globex")
	f.dormant = tenanttest.NewTenant("dormant")
	f.dormant.Status = tenant.StatusSuspended
	for _, x := range []tenant.Tenant{f.acme, f.globex, f.dormant} {
		require.NoError(t, f.store.Create(ctx, x))
	}
	f.acmeDomain = "crm.acme.test"
	f.pendingDom = "pending.globex.test"
	require.NoError(t, f.store.PutDomain(ctx, tenant.Domain{Host: f.acmeDomain, TenantID: f.acme.ID, Status: tenant.DomainActive}))
	require.NoError(t, f.store.PutDomain(ctx, tenant.Domain{Host: f.pendingDom, TenantID: f.globex.ID, Status: tenant.DomainPending}))
	require.NoError(t, f.store.PutDomain(ctx, tenant.Domain{Host: "gone.acme.test", TenantID: f.acme.ID, Status: tenant.DomainRemoved}))
	require.NoError(t, f.store.PutDomain(ctx, tenant.Domain{Host: "verified.acme.test", TenantID: f.acme.ID, Status: tenant.DomainVerified}))
	// A custom-domain record under the base domain must never win over
	// the subdomain rule.
	require.NoError(t, f.store.PutDomain(ctx, tenant.Domain{Host: "globex.app.example.com", TenantID: f.acme.ID, Status: tenant.DomainActive}))
	return f
}

func (f *fixture) resolver(t *testing.T, opts ...resolve.Option) *resolve.Resolver {
	t.Helper()
	opts = append([]resolve.Option{resolve.WithBaseDomain("app.example.com"), resolve.WithAuditor(discard{})}, opts...)
	r, err := resolve.New(f.store, opts...)
	require.NoError(t, err)
	return r
}

type discard struct{}

func (discard) Audit(context.Context, tenant.Event) {}

func TestResolveStrategies(t *testing.T) {
	f := newFixture(t)
	r := f.resolver(t)
	ctx := context.Background()
	cases := []struct {
		host string
		want *tenant.Tenant
		err  error
	}{
		{"acme.app.example.com", &f.acme, nil},
		{"ACME.APP.EXAMPLE.COM.:443", &f.acme, nil},
		{"globex.app.example.com", &f.globex, nil},
		{"crm.acme.test", &f.acme, nil},
		{"CRM.acme.test:8443", &f.acme, nil},
		{"dormant.app.example.com", &f.dormant, resolve.ErrSuspended},
		{"pending.globex.test", nil, resolve.ErrUnknownHost},
		{"gone.acme.test", nil, resolve.ErrUnknownHost},
		{"verified.acme.test", nil, resolve.ErrUnknownHost},
		{"app.example.com", nil, resolve.ErrUnknownHost},
		{"a.acme.app.example.com", nil, resolve.ErrUnknownHost},
		{"acme.app.example.com.evil.com", nil, resolve.ErrUnknownHost},
		{"evilapp.example.com", nil, resolve.ErrUnknownHost},
		{"acmeapp.example.com", nil, resolve.ErrUnknownHost},
		{"acme-app.example.com", nil, resolve.ErrUnknownHost},
		{"acme.example.com", nil, resolve.ErrUnknownHost},
		{"www.app.example.com", nil, resolve.ErrUnknownHost},
		{"admin.app.example.com", nil, resolve.ErrUnknownHost},
		{"xn--bcher-kva.app.example.com", nil, resolve.ErrUnknownHost},
		{"nobody.app.example.com", nil, resolve.ErrUnknownHost},
		{"acme.test", nil, resolve.ErrUnknownHost},
		{"127.0.0.1", nil, resolve.ErrIPLiteral},
		{"acme..app.example.com", nil, resolve.ErrInvalidHost},
		{"ａｃｍｅ.app.example.com", &f.acme, nil}, // full-width maps to the real slug
	}
	for _, c := range cases {
		got, err := r.Resolve(ctx, c.host)
		if c.err != nil {
			assert.ErrorIs(t, err, c.err, "Resolve(%q)", c.host)
		} else {
			assert.NoError(t, err, "Resolve(%q)", c.host)
		}
		if c.want != nil {
			assert.Equal(t, c.want.ID, got.ID, "Resolve(%q) tenant", c.host)
		} else {
			assert.Empty(t, got.ID, "Resolve(%q) returned a tenant with error %v", c.host, err)
		}
	}
}

func TestStrategyOrderAndSelection(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	onlyCustom := f.resolver(t, resolve.WithStrategies(resolve.CustomDomain))
	_, err := onlyCustom.Resolve(ctx, "acme.app.example.com")
	assert.ErrorIs(t, err, resolve.ErrUnknownHost, "subdomain resolved with the strategy off")
	got, err := onlyCustom.Resolve(ctx, "crm.acme.test")
	require.NoError(t, err)
	assert.Equal(t, f.acme.ID, got.ID)

	onlySub := f.resolver(t, resolve.WithStrategies(resolve.Subdomain))
	_, err = onlySub.Resolve(ctx, "crm.acme.test")
	assert.ErrorIs(t, err, resolve.ErrUnknownHost, "custom domain resolved with the strategy off")

	cases := []struct {
		name   string
		option string // what the error must name
		opts   []resolve.Option
	}{
		{"no strategy is refused", "WithStrategies", []resolve.Option{resolve.WithStrategies()}},
		{"a repeated strategy is refused", "WithStrategies", []resolve.Option{resolve.WithStrategies(resolve.Subdomain, resolve.Subdomain)}},
		{"an unknown strategy is refused", "WithStrategies", []resolve.Option{resolve.WithStrategies(resolve.Strategy(9))}},
		{"the header strategy without a header is refused", "WithHeader", []resolve.Option{resolve.WithStrategies(resolve.Header)}},
		{"the header strategy without trusted proxies is refused", "WithTrustedProxies", []resolve.Option{resolve.WithStrategies(resolve.Header), resolve.WithHeader("X-Tenant")}},
		{"an IP base domain is refused", "WithBaseDomain", []resolve.Option{resolve.WithBaseDomain("127.0.0.1")}},
		{"a bad proxy prefix is refused", "WithTrustedProxies", []resolve.Option{resolve.WithTrustedProxies("10.0.0.0/33")}},
		{"a header name with a blank is refused", "WithHeader", []resolve.Option{resolve.WithHeader("X Tenant")}},
		{"a negative cache size is refused", "WithCache", []resolve.Option{resolve.WithCache(-1, 0, 0)}},
		{"a zero lookup timeout is refused", "WithLookupTimeout", []resolve.Option{resolve.WithLookupTimeout(0)}},
		{"a malformed trusted origin is refused", "WithTrustedOrigins", []resolve.Option{resolve.WithTrustedOrigins("a..b")}},
		{"a nil not-found handler is refused", "WithNotFoundHandler", []resolve.Option{resolve.WithNotFoundHandler(nil)}},
		{"a nil suspended handler is refused", "WithSuspendedHandler", []resolve.Option{resolve.WithSuspendedHandler(nil)}},
		{"a nil error handler is refused", "WithErrorHandler", []resolve.Option{resolve.WithErrorHandler(nil)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := resolve.New(f.store, c.opts...)
			require.ErrorIs(t, err, resolve.ErrConfig)
			assert.Contains(t, err.Error(), c.option, "the error names what is wrong")
		})
	}
	_, err = resolve.New(nil)
	assert.ErrorIs(t, err, resolve.ErrConfig)
}

func TestStoreFailureIsNeverCachedNorDefaulted(t *testing.T) {
	f := newFixture(t)
	r := f.resolver(t)
	f.store.fail.Store(true)
	got, err := r.Resolve(context.Background(), "acme.app.example.com")
	assert.ErrorIs(t, err, resolve.ErrLookup)
	assert.ErrorIs(t, err, errStoreDown)
	assert.Empty(t, got.ID)
	f.store.fail.Store(false)
	got, err = r.Resolve(context.Background(), "acme.app.example.com")
	require.NoError(t, err, "a failure was cached")
	assert.Equal(t, f.acme.ID, got.ID)
}

func TestCacheHitsNegativesAndTTL(t *testing.T) {
	f := newFixture(t)
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	r := f.resolver(t, resolve.WithCache(100, time.Minute, 5*time.Second))
	resolve.SetClock(r, now.Load)
	ctx := context.Background()

	for range 5 {
		_, err := r.Resolve(ctx, "acme.app.example.com")
		require.NoError(t, err)
	}
	assert.EqualValues(t, 1, f.store.lookups.Load(), "hits went to the store")

	f.store.lookups.Store(0)
	for range 5 {
		_, err := r.Resolve(ctx, "nobody.app.example.com")
		require.ErrorIs(t, err, resolve.ErrUnknownHost)
	}
	assert.EqualValues(t, 1, f.store.lookups.Load(), "unknown hosts are not negatively cached")

	// A tenant created under a negatively cached name appears once the
	// negative TTL passes.
	late := tenanttest.NewTenant(tenanttest.RandomSlug("late"))
	_, err := r.Resolve(ctx, late.Slug+".app.example.com")
	require.ErrorIs(t, err, resolve.ErrUnknownHost)
	require.NoError(t, f.store.Create(ctx, late))
	_, err = r.Resolve(ctx, late.Slug+".app.example.com")
	require.ErrorIs(t, err, resolve.ErrUnknownHost, "negative answer kept within its TTL")
	now.Add(int64(6 * time.Second))
	_, err = r.Resolve(ctx, late.Slug+".app.example.com")
	require.NoError(t, err)

	// A suspension reaches the resolver after the TTL, or at once through
	// InvalidateTenant.
	acme := f.acme
	acme.Status = tenant.StatusSuspended
	require.NoError(t, f.store.Update(ctx, acme))
	_, err = r.Resolve(ctx, "acme.app.example.com")
	assert.NoError(t, err, "served from cache within the TTL")
	r.InvalidateTenant(f.acme.ID)
	_, err = r.Resolve(ctx, "acme.app.example.com")
	assert.ErrorIs(t, err, resolve.ErrSuspended)
	_, err = r.Resolve(ctx, "crm.acme.test")
	assert.ErrorIs(t, err, resolve.ErrSuspended)
}

func TestInvalidation(t *testing.T) {
	f := newFixture(t)
	r := f.resolver(t)
	ctx := context.Background()
	_, err := r.Resolve(ctx, f.pendingDom)
	require.ErrorIs(t, err, resolve.ErrUnknownHost)
	require.NoError(t, f.store.PutDomain(ctx, tenant.Domain{Host: f.pendingDom, TenantID: f.globex.ID, Status: tenant.DomainActive}))
	r.InvalidateHost("PENDING.globex.test.")
	got, err := r.Resolve(ctx, f.pendingDom)
	require.NoError(t, err)
	assert.Equal(t, f.globex.ID, got.ID)

	require.NoError(t, f.store.PutDomain(ctx, tenant.Domain{Host: f.pendingDom, TenantID: f.globex.ID, Status: tenant.DomainRemoved}))
	r.InvalidateAll()
	_, err = r.Resolve(ctx, f.pendingDom)
	assert.ErrorIs(t, err, resolve.ErrUnknownHost)
}

func TestCacheIsBounded(t *testing.T) {
	f := newFixture(t)
	r := f.resolver(t, resolve.WithCache(8, time.Minute, time.Minute))
	for i := range 100 {
		_, _ = r.Resolve(context.Background(), tenanttest.RandomSlug("n")+".app.example.com")
		assert.LessOrEqual(t, resolve.CacheLen(r), 8, "after %d lookups", i+1)
	}
	// Caching off.
	off := f.resolver(t, resolve.WithCache(0, 0, 0))
	f.store.lookups.Store(0)
	for range 3 {
		_, err := off.Resolve(context.Background(), "acme.app.example.com")
		require.NoError(t, err)
	}
	assert.EqualValues(t, 3, f.store.lookups.Load())
}

func TestStampedeMakesOneLookup(t *testing.T) {
	f := newFixture(t)
	f.store.gate = make(chan struct{})
	f.store.entered = make(chan struct{}, 10)
	h := f.resolver(t).Middleware(whoami)
	const n = 1000
	var started, done sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		started.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			started.Done()
			rec := serve(h, "192.0.2.1:1234", "Crm.Acme.Test", nil)
			var err error
			if rec.Code != 200 || rec.Body.String() != "acme" {
				err = fmt.Errorf("got %d %q", rec.Code, rec.Body.String())
			}
			errs <- err
		}()
	}
	started.Wait()
	<-f.store.entered // the single lookup is under way
	close(f.store.gate)
	done.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	assert.EqualValues(t, 1, f.store.lookups.Load(), "%d concurrent requests for a cold host", n)
}

func TestAWaiterCanGiveUp(t *testing.T) {
	f := newFixture(t)
	f.store.gate = make(chan struct{})
	f.store.entered = make(chan struct{}, 1)
	r := f.resolver(t)
	ctx, cancel := context.WithCancel(context.Background())
	res := make(chan error, 1)
	go func() {
		_, err := r.Resolve(ctx, "crm.acme.test")
		res <- err
	}()
	<-f.store.entered
	cancel()
	err := <-res
	assert.ErrorIs(t, err, resolve.ErrLookup)
	assert.ErrorIs(t, err, context.Canceled)
	close(f.store.gate)
	// The shared lookup was not cancelled with the first caller, and its
	// answer is served to the next.
	got, err := r.Resolve(context.Background(), "crm.acme.test")
	require.NoError(t, err)
	assert.Equal(t, f.acme.ID, got.ID)
}

// A lookup that began before an invalidation read the store as it was; a
// request arriving after the invalidation must not be handed its answer,
// or a tenant suspended a moment ago is still served while that lookup
// runs.
func TestARequestAfterAnInvalidationDoesNotJoinAnOlderLookup(t *testing.T) {
	for _, c := range []struct {
		name       string
		invalidate func(r *resolve.Resolver, f *fixture)
	}{
		{"after InvalidateTenant", func(r *resolve.Resolver, f *fixture) { r.InvalidateTenant(f.acme.ID) }},
		{"after InvalidateHost", func(r *resolve.Resolver, _ *fixture) { r.InvalidateHost("acme.app.example.com") }},
		{"after InvalidateAll", func(r *resolve.Resolver, _ *fixture) { r.InvalidateAll() }},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			slow := &slowFirstLookup{MemStore: f.store.MemStore, read: make(chan struct{}), gate: make(chan struct{})}
			r, err := resolve.New(slow, resolve.WithBaseDomain("app.example.com"), resolve.WithAuditor(discard{}))
			require.NoError(t, err)
			ctx := context.Background()
			first := make(chan error, 1)
			go func() {
				_, err := r.Resolve(ctx, "acme.app.example.com")
				first <- err
			}()
			<-slow.read // the first lookup read the tenant as active and has not answered yet

			acme := f.acme
			acme.Status = tenant.StatusSuspended
			require.NoError(t, f.store.MemStore.Update(ctx, acme))
			c.invalidate(r, f)

			// The deadline only detects the defect (joining the blocked
			// lookup); a correct resolver answers without waiting for it.
			wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			_, err = r.Resolve(wctx, "acme.app.example.com")
			assert.ErrorIs(t, err, resolve.ErrSuspended, "the request after the invalidation got the older lookup's answer")
			close(slow.gate)
			<-first
			_, err = r.Resolve(ctx, "acme.app.example.com")
			assert.ErrorIs(t, err, resolve.ErrSuspended, "the older lookup's answer must not be cached")
		})
	}
}

// slowFirstLookup answers its first BySlug from the store as it is, then
// holds the answer until gate closes; later lookups answer at once.
type slowFirstLookup struct {
	*tenant.MemStore
	calls      atomic.Int64
	read, gate chan struct{}
}

func (s *slowFirstLookup) BySlug(ctx context.Context, slug string) (tenant.Tenant, error) {
	t, err := s.MemStore.BySlug(ctx, slug)
	if s.calls.Add(1) == 1 {
		close(s.read)
		<-s.gate
	}
	return t, err
}
