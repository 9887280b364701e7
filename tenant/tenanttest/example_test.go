package tenanttest_test

import (
	"fmt"

	"github.com/tenantwall/tenantwall/tenant/tenanttest"
)

// ExampleCheckHTTPIsolation applies the suite to a minimal notes service
// (toy_test.go): first as written, then with its list endpoint missing its
// tenant filter. In a real test, call tenanttest.RunHTTPTests(t, suite).
func ExampleCheckHTTPIsolation() {
	svc, h := newToy(bugs{})
	rec := &recorder{}
	tenanttest.CheckHTTPIsolation(rec, svc.suite(h))
	fmt.Println("correct service, failures:", len(rec.errors))

	broken, h := newToy(bugs{unfilteredList: true})
	rec = &recorder{}
	tenanttest.CheckHTTPIsolation(rec, broken.suite(h))
	fmt.Println("unfiltered list caught:", rec.has("list of globex leaks"))
	// Output:
	// correct service, failures: 0
	// unfiltered list caught: true
}
