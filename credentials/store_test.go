package credentials_test

import (
	"testing"

	"github.com/tenantwall/tenantwall/credentials"
	"github.com/tenantwall/tenantwall/credentials/credentialstest"
)

func TestMemStore(t *testing.T) {
	credentialstest.RunStoreTests(t, func(t *testing.T) credentials.Store { return credentials.NewMemStore() })
}
