package credentialstest_test

import (
	"testing"

	"github.com/tenantwall/tenantwall/credentials"
	"github.com/tenantwall/tenantwall/credentials/credentialstest"
)

// A store's conformance test. The suite needs the *testing.T that only
// go test provides (each check is a subtest), so this example is compiled
// but not run; credentials' own tests run exactly this on MemStore.
func ExampleRunStoreTests() {
	testMemStore := func(t *testing.T) {
		credentialstest.RunStoreTests(t, func(*testing.T) credentials.Store {
			return credentials.NewMemStore() // your store, fresh or shared
		})
	}
	_ = testMemStore
}
