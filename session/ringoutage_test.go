package session_test

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/internal/redisnodes"
	"github.com/tenantwall/tenantwall/internal/testenv"
	"github.com/tenantwall/tenantwall/session"
	"github.com/tenantwall/tenantwall/tenant"
)

// partition cuts one client off its server while cut is set, as a
// network partition would: dials and commands fail, the server keeps its
// data.
type partition struct{ cut *atomic.Bool }

var errPartitioned = errors.New("partitioned")

func (p partition) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if p.cut.Load() {
			return nil, errPartitioned
		}
		return next(ctx, network, addr)
	}
}

func (p partition) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if p.cut.Load() {
			return errPartitioned
		}
		return next(ctx, cmd)
	}
}

func (p partition) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if p.cut.Load() {
			return errPartitioned
		}
		return next(ctx, cmds)
	}
}

// A Ring takes a shard it cannot reach out of its hashing, and sends that
// shard's keys to another one until it is back: a delete that "succeeded"
// there would leave the session alive on the shard, and it would come back
// with it. Every delete fails instead while a shard is out, and the
// session is then really deleted once the shard is back.
func TestRedisDeletesOnARingWithAShardOutFail(t *testing.T) {
	ring := testenv.StartRedisRing(t, 3)
	cuts := map[string]*atomic.Bool{}
	for _, addr := range ring.Addrs() {
		cuts[addr] = new(atomic.Bool)
	}
	client := redis.NewRing(&redis.RingOptions{Addrs: ring.Addrs(), HeartbeatFrequency: 50 * time.Millisecond,
		NewClient: func(opt *redis.Options) *redis.Client {
			c := redis.NewClient(opt)
			c.AddHook(partition{cuts[opt.Addr]})
			return c
		}})
	t.Cleanup(func() { client.Close() })
	ctx := context.Background()
	require.NoError(t, client.ForEachShard(ctx, func(ctx context.Context, c *redis.Client) error { return c.Ping(ctx).Err() }))
	prefix := testenv.Name("twsessring")
	store, err := session.NewRedisStore(client, prefix)
	require.NoError(t, err)
	shard := func(key string) string {
		c, err := client.GetShardClientForKey(key)
		require.NoError(t, err)
		return c.Options().Addr
	}

	deletes := map[string]func(id, hash string) error{
		"Delete":       func(_, hash string) error { return store.Delete(ctx, hash) },
		"DeleteUser":   func(id, _ string) error { return store.DeleteUser(ctx, id, "1") },
		"DeleteTenant": func(id, _ string) error { return store.DeleteTenant(ctx, id) },
	}
	for name, del := range deletes {
		t.Run(name, func(t *testing.T) {
			id, hash := tenant.NewID(), session.Hash(tenant.NewID())
			now := time.Now()
			require.NoError(t, store.Create(ctx, hash, session.Record{TenantID: id, UserID: "1", Created: now, LastSeen: now, Deadline: now.Add(time.Hour)}, time.Hour))
			// Cut the shard that holds what the delete goes by: the
			// record for Delete, the tenant's index sets for the others.
			down := shard("{" + id + "}")
			if name == "Delete" {
				down = shard(prefix + ":s:" + hash)
			}
			require.NotEmpty(t, down)
			cuts[down].Store(true)
			t.Cleanup(func() { cuts[down].Store(false) })
			require.Eventually(t, func() bool { return client.Len() < 3 }, 5*time.Second, 20*time.Millisecond, "the ring takes the shard out")

			err := del(id, hash)
			require.ErrorIs(t, err, redisnodes.ErrShardDown, "%s with a shard out", name)

			cuts[down].Store(false)
			require.Eventually(t, func() bool { return client.Len() == 3 }, 5*time.Second, 20*time.Millisecond, "the shard is back")
			_, found, err := store.Find(ctx, hash)
			require.NoError(t, err)
			require.True(t, found, "the refused delete deleted nothing")
			require.NoError(t, del(id, hash))
			_, found, err = store.Find(ctx, hash)
			require.NoError(t, err)
			assert.False(t, found, "the session outlived its delete")
		})
	}
}
