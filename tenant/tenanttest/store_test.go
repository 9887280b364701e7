package tenanttest_test

import (
	"testing"

	"github.com/tenantwall/tenantwall/tenant"
	"github.com/tenantwall/tenantwall/tenant/tenanttest"
)

func TestMemStore(t *testing.T) {
	tenanttest.RunStoreTests(t, func(*testing.T) tenant.Store { return tenant.NewMemStore() })
}
