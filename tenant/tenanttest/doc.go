// Package tenanttest is tenantwall's conformance kit: exported suites that
// prove an implementation or a whole service keeps tenants apart, in the
// manner of testing/fstest.TestFS and gocloud.dev's drivertest. Each suite
// is a short entry point over named checks, and each check runs as a
// subtest named after what it proves, so a failure says which one broke.
//
// # Store suite
//
// RunStoreTests checks any tenant.Store: lookups by id, slug and domain;
// ErrNotFound for what is missing, hostile spellings included; ErrExists
// and ErrDomainTaken for what is taken; refusal of invalid tenants and
// domains with nothing stored; copy semantics; updates, deletes and list
// order; and exactly one winner among concurrent creates of a slug. Call
// it from the store's test with a constructor of empty stores.
//
// # HTTP suite
//
// RunHTTPTests (CheckHTTPIsolation with a *testing.T) drives a running
// service, or an http.Handler it serves itself, as two or more tenants
// and proves for every endpoint and ordered pair of tenants that lists,
// item reads and writes, downloads, cached answers and cookies do not
// cross tenants, and that another tenant's item answers exactly like an
// unknown id (404, same body). Describe the service with an HTTPSuite:
// its tenants (HTTPTenant: a host and, if the service has sign-in, the
// cookies or bearer token of a signed-in user), its JSON collections
// (Endpoint), its uploads and downloads (FileEndpoint) and its cached
// answers (CachedEndpoint).
//
// Services with and without sign-in both run the suite. The check that
// one tenant's credentials are refused on another tenant's host runs for
// the tenants that have credentials; a service that takes the tenant from
// the host alone has none, and that check is skipped (the list and item
// checks cover it). Checks with nothing to check (no files, no cached
// endpoint) are skipped too, and say so. A suite that cannot be run, such
// as one with a single tenant or two tenants on one host, fails once with
// the reason instead of proving nothing.
//
// The checks report to a T. A *testing.T gets one subtest per check; a T
// of your own without a Run method (a recorder) gets every failure
// prefixed with the name of its check, which is how you prove, in your
// own tests, that a deliberately broken variant of your service is caught
// by the check meant for it.
//
// # Concurrent check
//
// CheckConcurrent sends every tenant's requests at once, from several
// goroutines each, and looks in every answer for another tenant's
// markers: state shared between requests (a global, a pooled connection
// that kept a tenant setting, a cache key without the tenant) shows up
// here and not in one-at-a-time requests. It returns the throughput it
// measured.
//
// # Fixtures
//
// NewTenant and RandomSlug make valid, active tenants with random
// identities, so that tests can share real databases without colliding.
// CheckCookies checks Set-Cookie lines the way the HTTP suite does, for
// the answer of a sign-in.
//
// # Audit recorder
//
// AuditRecorder is a tenant.Auditor that keeps the events it receives,
// for tests that assert an attempt was reported (a cross-tenant access,
// an unknown host).
//
// # Security
//
// Passing the suites is evidence, not proof: they check the endpoints,
// tenants and paths they are given. Give every tenant-scoped endpoint, at
// least two tenants, and each tenant's ID in Secrets so that an answer
// carrying it is caught.
package tenanttest
