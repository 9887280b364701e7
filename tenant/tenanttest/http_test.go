package tenanttest_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/tenantwall/tenantwall/tenant"
	"github.com/tenantwall/tenantwall/tenant/tenanttest"
)

// recorder is a tenanttest.T that keeps failures instead of failing.
type recorder struct {
	mu     sync.Mutex
	errors []string
}

func (r *recorder) Helper()             {}
func (r *recorder) Logf(string, ...any) {}
func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
	r.mu.Unlock()
}

func (r *recorder) has(substr string) bool {
	for _, e := range r.errors {
		if strings.Contains(e, substr) {
			return true
		}
	}
	return false
}

func TestSuitePassesACorrectService(t *testing.T) {
	s, h := newToy(bugs{})
	tenanttest.RunHTTPTests(t, s.suite(h))
	rep := tenanttest.CheckConcurrent(t, s.suite(h), tenanttest.ConcurrentOptions{Goroutines: 4, Requests: 50})
	assert.Zero(t, rep.Leaks)
	assert.Positive(t, rep.Requests)
}

func TestSuitePassesAServiceWithoutSignIn(t *testing.T) {
	s, h := newToy(bugs{hostOnly: true})
	tenanttest.RunHTTPTests(t, s.suite(h))
}

// Each deliberately broken variant must be caught, by the check meant
// for it, with a message naming what leaked.
func TestSuiteCatchesEachBug(t *testing.T) {
	cases := []struct {
		name string
		bug  bugs
		want string
	}{
		{"a list without tenant filtering", bugs{unfilteredList: true}, "list of"},
		{"a cache key without the tenant", bugs{sharedCache: true}, "shared between tenants"},
		{"a cookie with a shared Domain", bugs{domainCookie: true}, "Domain="},
		{"403 instead of 404", bugs{forbiddenNot404: true}, "want 404"},
		{"the tenant taken from the body", bugs{tenantFromBody: true}, "through the \"tenant_id\" field"},
		{"an unfiltered list in a service without sign-in", bugs{hostOnly: true, unfilteredList: true}, "list of"},
		{"a tenant-less cache key in a service without sign-in", bugs{hostOnly: true, sharedCache: true}, "shared between tenants"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, h := newToy(c.bug)
			rec := &recorder{}
			tenanttest.CheckHTTPIsolation(rec, s.suite(h))
			assert.True(t, rec.has(c.want), "want a failure mentioning %q, got %q", c.want, rec.errors)
		})
	}
	t.Run("concurrent mode sees leaks", func(t *testing.T) {
		s, h := newToy(bugs{unfilteredList: true})
		rec := &recorder{}
		rep := tenanttest.CheckConcurrent(rec, s.suite(h), tenanttest.ConcurrentOptions{Goroutines: 2, Requests: 20})
		assert.Positive(t, rep.Leaks)
		assert.True(t, rec.has("leaked"), "%q", rec.errors)
	})
}

func TestBuildingBlocks(t *testing.T) {
	assert.NoError(t, tenanttest.NoForeignIdentifiers([]byte(`{"a":"mine"}`), "theirs"))
	assert.Error(t, tenanttest.NoForeignIdentifiers([]byte(`{"a":"theirs"}`), "theirs"))
	assert.NoError(t, tenanttest.CheckCookies([]string{"sid=x; Path=/; HttpOnly; Secure"}, false))
	assert.Error(t, tenanttest.CheckCookies([]string{"sid=x; Path=/; Domain=example.com; HttpOnly; Secure"}, false))
	assert.Error(t, tenanttest.CheckCookies([]string{"sid=x; Path=/; Secure"}, false))
	assert.Error(t, tenanttest.CheckCookies([]string{"sid=x; Path=/; HttpOnly"}, false))
	assert.NoError(t, tenanttest.CheckCookies([]string{"sid=x; Path=/; HttpOnly"}, true))
	assert.NoError(t, tenanttest.CheckCookies([]string{"sid=; Max-Age=0"}, false), "a deletion")
	m1, m2 := tenanttest.Marker("acme"), tenanttest.Marker("acme")
	assert.NotEqual(t, m1, m2)
	assert.True(t, strings.HasPrefix(m1, "tw-marker-acme-"))
}

func TestAuditorRecords(t *testing.T) {
	var a tenanttest.Auditor
	_, ok := a.Last()
	assert.False(t, ok)
	a.Audit(context.Background(), tenant.Event{Kind: tenant.EventCrossTenant, TenantID: "x"})
	a.Audit(context.Background(), tenant.Event{Kind: tenant.EventUnknownHost})
	assert.Equal(t, 1, a.Count(tenant.EventCrossTenant))
	assert.Equal(t, []tenant.EventKind{tenant.EventCrossTenant, tenant.EventUnknownHost}, a.Kinds())
	last, ok := a.Last()
	assert.True(t, ok)
	assert.Equal(t, tenant.EventUnknownHost, last.Kind)
	assert.Len(t, a.Events(), 2)
}
