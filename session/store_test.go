package session_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/internal/testenv"
	"github.com/tenantwall/tenantwall/session"
	"github.com/tenantwall/tenantwall/session/sessiontest"
	"github.com/tenantwall/tenantwall/tenant"
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

func TestRedisIndexOutlivesEverySessionInIt(t *testing.T) {
	client := testenv.Redis(t)
	prefix := testenv.Name("twsessidx")
	s, err := session.NewRedisStore(client, prefix)
	require.NoError(t, err)
	ctx := context.Background()
	id := tenant.NewID()
	t.Cleanup(func() { _ = s.DeleteTenant(context.Background(), id) })
	now := time.Now()
	rec := session.Record{TenantID: id, UserID: "alice", Created: now, LastSeen: now, Deadline: now.Add(24 * time.Hour)}
	long, short := session.Hash(tenant.NewID()), session.Hash(tenant.NewID())
	require.NoError(t, s.Create(ctx, long, rec, 8*time.Hour))
	// A session written later with a shorter life must not shorten the
	// index, or DestroyUser would miss the long one once the index expired.
	require.NoError(t, s.Create(ctx, short, rec, time.Minute))
	found, err := s.Update(ctx, short, rec, time.Minute)
	require.NoError(t, err)
	require.True(t, found)
	for _, key := range []string{prefix + ":{" + id + "}:u:alice", prefix + ":{" + id + "}:t"} {
		ttl, err := client.TTL(ctx, key).Result()
		require.NoError(t, err)
		assert.Greater(t, ttl, 8*time.Hour, key)
	}
}
