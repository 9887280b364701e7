package session_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/internal/testenv"
	"github.com/tenantwall/tenantwall/session"
	"github.com/tenantwall/tenantwall/session/sessiontest"
)

// TestRedisStoreOnCluster runs the store conformance suite against a Redis
// Cluster of three primaries: the store's keys of one tenant (its user
// and tenant indexes) share a hash tag, and no command spans two slots.
func TestRedisStoreOnCluster(t *testing.T) {
	client := testenv.StartRedisCluster(t).Client(t)
	sessiontest.RunStoreTests(t, func(t *testing.T) session.Store {
		s, err := session.NewRedisStore(client, testenv.Name("twsesstest"))
		require.NoError(t, err)
		return s
	})
}
