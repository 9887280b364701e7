package ratelimittest_test

import (
	"testing"

	"github.com/tenantwall/tenantwall/ratelimit"
	"github.com/tenantwall/tenantwall/ratelimit/ratelimittest"
)

// A store's conformance test. The suite needs the *testing.T that only go
// test provides (each check is a subtest), so this example is compiled but
// not run; ratelimit's own TestMemoryStoreConformance runs exactly this.
func ExampleRunStoreTests() {
	testMemoryStore := func(t *testing.T) {
		ratelimittest.RunStoreTests(t, func(t *testing.T) ratelimit.Store {
			s, err := ratelimit.NewMemoryStore() // your store, fresh or shared
			if err != nil {
				t.Fatal(err)
			}
			return s
		})
	}
	_ = testMemoryStore
}
