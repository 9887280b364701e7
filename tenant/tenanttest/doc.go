// Package tenanttest is tenantwall's conformance kit: exported suites that
// prove an implementation keeps tenants apart, in the manner of
// testing/fstest.TestFS and gocloud.dev's drivertest.
//
// RunStoreTests checks any tenant.Store: lookups, uniqueness of IDs, slugs
// and domains, validation of hostile input, copy semantics and concurrent
// use. Fixtures (NewTenant, RandomSlug) make tenants with random identities
// so that suites can share real databases.
package tenanttest
