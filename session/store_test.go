package session_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/internal/testenv"
	"github.com/tenantwall/tenantwall/session"
	"github.com/tenantwall/tenantwall/session/sessiontest"
)

func TestMemStore(t *testing.T) {
	sessiontest.RunStoreTests(t, func(*testing.T) session.Store { return session.NewMemStore() })
}

func TestRedisStore(t *testing.T) {
	client := testenv.Redis(t)
	sessiontest.RunStoreTests(t, func(t *testing.T) session.Store {
		s, err := session.NewRedisStore(client, testenv.Name("twsesstest"))
		require.NoError(t, err)
		return s
	})
	_, err := session.NewRedisStore(nil, "")
	require.ErrorIs(t, err, session.ErrConfig)
	_, err = session.NewRedisStore(client, "bad:prefix")
	require.ErrorIs(t, err, session.ErrConfig)
}
