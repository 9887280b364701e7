package sessiontest_test

import (
	"testing"

	"github.com/tenantwall/tenantwall/session"
	"github.com/tenantwall/tenantwall/session/sessiontest"
)

// A store's conformance test. The suite needs the *testing.T that only
// go test provides (each check is a subtest), so this example is compiled
// but not run; session's own TestMemStore runs exactly this.
func ExampleRunStoreTests() {
	testMemStore := func(t *testing.T) {
		sessiontest.RunStoreTests(t, func(*testing.T) session.Store {
			return session.NewMemStore() // your store, fresh or shared
		})
	}
	_ = testMemStore
}
