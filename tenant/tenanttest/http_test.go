package tenanttest_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/tenant"
	"github.com/tenantwall/tenantwall/tenant/tenanttest"
)

// recorder is a tenanttest.T that keeps failures instead of failing. It
// has no Run method, so the checks run inline and prefix their failures
// with their names.
type recorder struct {
	mu     sync.Mutex
	errors []string
	logs   []string
}

func (r *recorder) Helper() {}

func (r *recorder) Logf(format string, args ...any) {
	r.mu.Lock()
	r.logs = append(r.logs, fmt.Sprintf(format, args...))
	r.mu.Unlock()
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
	r.mu.Unlock()
}

// hasFrom reports whether check reported a failure mentioning substr.
func (r *recorder) hasFrom(check, substr string) bool {
	for _, e := range r.errors {
		if strings.HasPrefix(e, check+": ") && strings.Contains(e, substr) {
			return true
		}
	}
	return false
}

// subtests is a tenanttest.T with the Run upgrade: it runs each check as
// a real subtest of t and remembers its name and whether it was skipped.
type subtests struct {
	*testing.T
	mu      sync.Mutex
	names   []string
	skipped map[string]bool
}

func (s *subtests) Run(name string, f func(t *testing.T)) bool {
	s.mu.Lock()
	s.names = append(s.names, name)
	s.mu.Unlock()
	return s.T.Run(name, func(t *testing.T) {
		defer func() {
			s.mu.Lock()
			s.skipped[name] = t.Skipped()
			s.mu.Unlock()
		}()
		f(t)
	})
}

// The checks of CheckHTTPIsolation, in order, as subtest names.
var httpChecks = []string{
	"cookies are host-only, HttpOnly and Secure",
	"lists show only the tenant's own items",
	"another tenant's item answers like an unknown id",
	"credentials are refused on another tenant's host",
	"a tenant field in a body cannot pick the tenant",
	"another tenant's files cannot be downloaded",
	"cached answers are not shared between tenants",
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

func TestEachCheckIsANamedSubtest(t *testing.T) {
	cases := []struct {
		name        string
		bug         bugs
		wantSkipped []string
	}{
		{"a service with sign-in runs every check", bugs{}, nil},
		{"a service without sign-in skips only the stolen-credentials check", bugs{hostOnly: true},
			[]string{"credentials are refused on another tenant's host"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, h := newToy(c.bug)
			st := &subtests{T: t, skipped: map[string]bool{}}
			tenanttest.CheckHTTPIsolation(st, s.suite(h))
			assert.Equal(t, httpChecks, st.names)
			for _, name := range httpChecks {
				assert.Equal(t, contains(c.wantSkipped, name), st.skipped[name], "check %q skipped", name)
			}
		})
	}
	t.Run("the concurrent check is a named subtest too", func(t *testing.T) {
		s, h := newToy(bugs{})
		st := &subtests{T: t, skipped: map[string]bool{}}
		tenanttest.CheckConcurrent(st, s.suite(h), tenanttest.ConcurrentOptions{Goroutines: 2, Requests: 10})
		assert.Equal(t, []string{"no answer under concurrent load carries another tenant's data"}, st.names)
	})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Each deliberately broken variant must be caught by the check meant for
// it, with a message naming what leaked.
func TestSuiteCatchesEachBug(t *testing.T) {
	cases := []struct {
		name  string
		bug   bugs
		check string
		want  string
	}{
		{"a list without tenant filtering", bugs{unfilteredList: true},
			"lists show only the tenant's own items", "list of"},
		{"a cache key without the tenant", bugs{sharedCache: true},
			"cached answers are not shared between tenants", "shared between tenants"},
		{"a cache its tenant's writes do not invalidate", bugs{staleCache: true},
			"cached answers are not shared between tenants", "do not invalidate it"},
		{"a cookie with a shared Domain", bugs{domainCookie: true},
			"cookies are host-only, HttpOnly and Secure", "Domain="},
		{"403 instead of 404", bugs{forbiddenNot404: true},
			"another tenant's item answers like an unknown id", "want 404"},
		{"a 404 that differs from an unknown id's", bugs{probeable404: true},
			"another tenant's item answers like an unknown id", "ids can be probed"},
		{"the tenant taken from the body", bugs{tenantFromBody: true},
			"a tenant field in a body cannot pick the tenant", "through the \"tenant_id\" field"},
		{"a token accepted on every tenant's host", bugs{unboundToken: true},
			"credentials are refused on another tenant's host", "credentials were accepted"},
		{"a download without the tenant check", bugs{openDownload: true},
			"another tenant's files cannot be downloaded", "want 404"},
		{"an unfiltered list in a service without sign-in", bugs{hostOnly: true, unfilteredList: true},
			"lists show only the tenant's own items", "list of"},
		{"a tenant-less cache key in a service without sign-in", bugs{hostOnly: true, sharedCache: true},
			"cached answers are not shared between tenants", "shared between tenants"},
		{"an open download in a service without sign-in", bugs{hostOnly: true, openDownload: true},
			"another tenant's files cannot be downloaded", "received"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, h := newToy(c.bug)
			rec := &recorder{}
			tenanttest.CheckHTTPIsolation(rec, s.suite(h))
			assert.True(t, rec.hasFrom(c.check, c.want), "want a failure of %q mentioning %q, got %q", c.check, c.want, rec.errors)
		})
	}
	t.Run("concurrent mode sees leaks", func(t *testing.T) {
		s, h := newToy(bugs{unfilteredList: true})
		rec := &recorder{}
		rep := tenanttest.CheckConcurrent(rec, s.suite(h), tenanttest.ConcurrentOptions{Goroutines: 2, Requests: 20})
		assert.Positive(t, rep.Leaks)
		assert.True(t, rec.hasFrom("no answer under concurrent load carries another tenant's data", "leaked"), "%q", rec.errors)
	})
}

// A correct service passes however its tenants are named: a name that
// starts another (acme, acme-eu) must not look like a leak.
func TestSuiteTellsApartTenantsWhoseNamesArePrefixes(t *testing.T) {
	for _, slugs := range [][]string{{"acme", "acme-eu"}, {"acme-eu", "acme"}, {"a", "a-b", "a-b-c"}} {
		t.Run(strings.Join(slugs, " and ")+" are kept apart", func(t *testing.T) {
			s, h := newToy(bugs{}, slugs...)
			rec := &recorder{}
			tenanttest.CheckHTTPIsolation(rec, s.suite(h))
			rep := tenanttest.CheckConcurrent(rec, s.suite(h), tenanttest.ConcurrentOptions{Goroutines: 2, Requests: 30})
			assert.Empty(t, rec.errors)
			assert.Zero(t, rep.Leaks)
		})
	}
}

// A suite the checks cannot run is one clear failure, never a panic or a
// pass that proves nothing.
func TestSuiteRefusesWhatItCannotRun(t *testing.T) {
	ok, okHandler := newToy(bugs{})
	tenantsOf := func(tns ...tenanttest.HTTPTenant) func(*tenanttest.Server) ([]tenanttest.HTTPTenant, error) {
		return func(*tenanttest.Server) ([]tenanttest.HTTPTenant, error) { return tns, nil }
	}
	acme := tenanttest.HTTPTenant{Name: "acme", Host: "acme.example.com"}
	globex := tenanttest.HTTPTenant{Name: "globex", Host: "globex.example.com"}
	cases := []struct {
		name string
		mut  func(s *tenanttest.HTTPSuite)
		want string
	}{
		{"no Tenants", func(s *tenanttest.HTTPSuite) { s.Tenants = nil }, "Tenants is required"},
		{"a Tenants that fails", func(s *tenanttest.HTTPSuite) {
			s.Tenants = func(*tenanttest.Server) ([]tenanttest.HTTPTenant, error) { return nil, errors.New("login refused") }
		}, "login refused"},
		{"one tenant", func(s *tenanttest.HTTPSuite) { s.Tenants = tenantsOf(acme) }, "two or more tenants, got 1"},
		{"two tenants with one name", func(s *tenanttest.HTTPSuite) {
			s.Tenants = tenantsOf(acme, tenanttest.HTTPTenant{Name: "acme", Host: "globex.example.com"})
		}, `two tenants are named "acme"`},
		{"two tenants with one host", func(s *tenanttest.HTTPSuite) {
			s.Tenants = tenantsOf(acme, tenanttest.HTTPTenant{Name: "globex", Host: "acme.example.com"})
		}, "share the host"},
		{"two tenants with one host in different case", func(s *tenanttest.HTTPSuite) {
			s.Tenants = tenantsOf(acme, tenanttest.HTTPTenant{Name: "globex", Host: "ACME.example.com"})
		}, "share the host"},
		{"a tenant without a host", func(s *tenanttest.HTTPSuite) {
			s.Tenants = tenantsOf(acme, tenanttest.HTTPTenant{Name: "globex"})
		}, "Name and Host are required"},
		{"neither Handler nor BaseURL", func(s *tenanttest.HTTPSuite) { s.Handler = nil }, "exactly one of"},
		{"both Handler and BaseURL", func(s *tenanttest.HTTPSuite) { s.BaseURL = "http://127.0.0.1:1" }, "exactly one of"},
		{"nothing to check", func(s *tenanttest.HTTPSuite) { s.Endpoints, s.Files, s.Cached = nil, nil, nil }, "nothing to check"},
		{"an endpoint without Item", func(s *tenanttest.HTTPSuite) { s.Endpoints[0].Item = nil }, `Endpoints[0] "notes"`},
		{"an endpoint without Create", func(s *tenanttest.HTTPSuite) { s.Endpoints[0].Create = nil }, `Endpoints[0] "notes"`},
		{"an endpoint without Collection", func(s *tenanttest.HTTPSuite) { s.Endpoints[0].Collection = "" }, `Endpoints[0] "notes"`},
		{"a file endpoint without Upload", func(s *tenanttest.HTTPSuite) { s.Files[0].Upload = nil }, `Files[0] "note downloads"`},
		{"a file endpoint without Download", func(s *tenanttest.HTTPSuite) { s.Files[0].Download = nil }, `Files[0] "note downloads"`},
		{"a cached endpoint without Path", func(s *tenanttest.HTTPSuite) { s.Cached[0].Path = "" }, `Cached[0] "stats"`},
		{"a cached endpoint and no endpoint to write through", func(s *tenanttest.HTTPSuite) { s.Endpoints = nil }, "Cached needs an Endpoint"},
	}
	for _, c := range cases {
		t.Run(c.name+" is refused", func(t *testing.T) {
			for _, mode := range []string{"isolation", "concurrent"} {
				suite := ok.suite(okHandler)
				suite.Tenants = tenantsOf(acme, globex)
				c.mut(&suite)
				rec := &recorder{}
				require.NotPanics(t, func() {
					if mode == "isolation" {
						tenanttest.CheckHTTPIsolation(rec, suite)
					} else {
						tenanttest.CheckConcurrent(rec, suite, tenanttest.ConcurrentOptions{Goroutines: 1, Requests: 1})
					}
				})
				require.Len(t, rec.errors, 1, "%s: %q", mode, rec.errors)
				assert.Contains(t, rec.errors[0], "tenanttest: ", mode)
				assert.Contains(t, rec.errors[0], c.want, mode)
			}
		})
	}
}

// A check that has nothing to check says so instead of passing silently.
func TestChecksWithNothingToCheckAreSkipped(t *testing.T) {
	s, h := newToy(bugs{hostOnly: true})
	suite := s.suite(h)
	suite.Files, suite.Cached = nil, nil
	suite.Endpoints[0].TenantField = ""
	rec := &recorder{}
	tenanttest.CheckHTTPIsolation(rec, suite)
	assert.Empty(t, rec.errors)
	for _, check := range []string{
		"credentials are refused on another tenant's host",
		"a tenant field in a body cannot pick the tenant",
		"another tenant's files cannot be downloaded",
		"cached answers are not shared between tenants",
	} {
		assert.Contains(t, strings.Join(rec.logs, "\n"), check+": skipped: ")
	}
}

func TestCheckCookies(t *testing.T) {
	cases := []struct {
		name          string
		setCookie     string
		allowInsecure bool
		want          string // "" when accepted
	}{
		{"a host-only, HttpOnly, Secure cookie is accepted", "sid=x; Path=/; HttpOnly; Secure", false, ""},
		{"a cookie with Domain is refused", "sid=x; Path=/; Domain=example.com; HttpOnly; Secure", false, "Domain="},
		{"a cookie with a leading-dot Domain is refused", "sid=x; Domain=.example.com; HttpOnly; Secure", false, "Domain="},
		{"a cookie with an upper-case DOMAIN attribute is refused", "sid=x; DOMAIN=example.com; HttpOnly; Secure", false, "Domain="},
		{"a cookie without HttpOnly is refused", "sid=x; Path=/; Secure", false, "not HttpOnly"},
		{"a cookie without Secure is refused", "sid=x; Path=/; HttpOnly", false, "not Secure"},
		{"a cookie without Secure is accepted on plain HTTP", "sid=x; Path=/; HttpOnly", true, ""},
		{"a cookie with Domain is refused on plain HTTP too", "sid=x; Domain=example.com; HttpOnly", true, "Domain="},
		{"a deletion is accepted", "sid=; Max-Age=0", false, ""},
		{"an unparsable line is refused", "=; HttpOnly", false, "Set-Cookie"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := tenanttest.CheckCookies([]string{c.setCookie}, c.allowInsecure)
			if c.want == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
		})
	}
}

func TestAuditRecorderRecords(t *testing.T) {
	var a tenanttest.AuditRecorder
	_, ok := a.Last()
	assert.False(t, ok, "an empty recorder has no last event")
	a.Audit(context.Background(), tenant.Event{Kind: tenant.EventCrossTenant, TenantID: "x"})
	a.Audit(context.Background(), tenant.Event{Kind: tenant.EventUnknownHost})
	assert.Equal(t, 1, a.Count(tenant.EventCrossTenant))
	assert.Equal(t, []tenant.EventKind{tenant.EventCrossTenant, tenant.EventUnknownHost}, a.Kinds())
	last, ok := a.Last()
	assert.True(t, ok)
	assert.Equal(t, tenant.EventUnknownHost, last.Kind)
	events := a.Events()
	require.Len(t, events, 2)
	events[0].Kind = "changed by caller"
	assert.Equal(t, tenant.EventCrossTenant, a.Events()[0].Kind, "Events returns a copy")
}
