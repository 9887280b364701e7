package cachekey_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/cachekey"
	"github.com/tenantwall/tenantwall/internal/testenv"
	"github.com/tenantwall/tenantwall/tenant"
	"github.com/tenantwall/tenantwall/tenant/tenanttest"
)

// TestRedisCluster runs the Keyspace's suites on a Redis Cluster of three
// primaries, in the default mode (a tenant's keys spread over the slots)
// and in hash-tag mode (one slot per tenant). One cluster serves every
// subtest: starting one takes about a second.
func TestRedisCluster(t *testing.T) {
	cluster := testenv.StartRedisCluster(t)
	client := cluster.Client(t)
	for _, hashTags := range []bool{false, true} {
		mode := map[bool]string{false: "default mode", true: "hash-tag mode"}[hashTags]
		t.Run(mode, func(t *testing.T) {
			t.Run("the behaviour suite holds", func(t *testing.T) {
				runBehaviour(t, backend{name: "cluster", open: func(t *testing.T, audit tenant.Auditor) (*cachekey.Keyspace, func(string, time.Duration)) {
					ks := newKeyspace(t, client, cachekey.WithHashTags(hashTags), cachekey.WithAuditor(audit))
					return ks, func(key string, ttl time.Duration) {
						require.Eventually(t, func() bool { return client.Exists(context.Background(), key).Val() == 0 },
							ttl+5*time.Second, 5*time.Millisecond, "Redis did not expire %s", key)
					}
				}})
			})
			t.Run("purge visits every primary and deletes one tenant's keys only", func(t *testing.T) {
				testClusterPurge(t, client, hashTags)
			})
			t.Run("the guard holds and multi-key commands follow the mode", func(t *testing.T) {
				testClusterGuard(t, client, hashTags)
			})
			srv := guardServer{base: client, hashTags: hashTags, dial: func(t *testing.T) redis.UniversalClient {
				c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cluster.Addrs(), ClientName: "guarded"})
				t.Cleanup(func() { c.Close() })
				return c
			}}
			t.Run("the guard refuses every key of another tenant", func(t *testing.T) { testGuardRefusesForeignKeys(t, srv) })
			t.Run("the guard refuses commands it cannot check", func(t *testing.T) { testGuardRefusesUncheckable(t, srv) })
			if hashTags {
				// Without hash tags, the suite's multi-key commands span
				// slots, which a cluster refuses (see the test above).
				t.Run("the guard lets the tenant's own commands run", func(t *testing.T) { testGuardLetsOwnCommandsRun(t, srv) })
			}
		})
	}
	t.Run("bumps travel by sharded pub/sub", func(t *testing.T) {
		ks := newKeyspace(t, client, cachekey.WithRefresh(time.Hour)) // pub/sub only
		other := newKeyspace(t, client, cachekey.WithRefresh(time.Hour))
		a := tenanttest.NewTenant("acme")
		purgeAfter(t, ks, a.ID)
		ctx := context.Background()
		require.Eventually(t, func() bool {
			n := client.PubSubShardNumSub(ctx, cachekey.DefaultPrefix+":generations").Val()
			return n[cachekey.DefaultPrefix+":generations"] >= 2
		}, 5*time.Second, 5*time.Millisecond, "both Keyspaces hold a sharded subscription")
		k1, err := other.Key(ctxFor(a), "x")
		require.NoError(t, err)
		require.NoError(t, ks.Invalidate(ctxFor(a)))
		require.Eventually(t, func() bool {
			k2, _ := other.Key(ctxFor(a), "x")
			return k2 != k1
		}, time.Second, time.Millisecond, "the bump did not reach the other process")
	})
	t.Run("a lost message is repaired from the log on the cluster", func(t *testing.T) {
		prefix := testenv.Name("tp")
		t.Cleanup(func() { dropClusterPrefix(client, prefix) })
		ks := newKeyspace(t, client, cachekey.WithPrefix(prefix), cachekey.WithRefresh(20*time.Millisecond))
		other := newKeyspace(t, client, cachekey.WithPrefix(prefix), cachekey.WithRefresh(time.Hour))
		cachekey.DropMessages(ks, true)
		_, in := listen(t, ks, "resolve")
		out, err := other.Topic("resolve")
		require.NoError(t, err)
		a := tenanttest.NewTenant("acme")
		k1, err := ks.Key(ctxFor(a), "x")
		require.NoError(t, err)
		require.Eventually(t, func() bool { return cachekey.FullRefreshes(ks) > 0 }, 5*time.Second, time.Millisecond)
		require.NoError(t, other.Invalidate(ctxFor(a)))
		require.NoError(t, out.Publish(context.Background(), "h example.com"))
		require.Eventually(t, func() bool {
			k2, _ := ks.Key(ctxFor(a), "x")
			return k2 != k1 && in.count("h example.com") == 1
		}, time.Second, time.Millisecond)
	})
}

func dropClusterPrefix(c *redis.ClusterClient, prefix string) {
	ctx := context.Background()
	_ = c.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
		it := n.Scan(ctx, 0, prefix+":*", 100).Iterator()
		for it.Next(ctx) {
			n.Del(ctx, it.Val())
		}
		return nil
	})
}

// perMaster counts the keys under prefix on each primary.
func perMaster(t *testing.T, c *redis.ClusterClient, prefix string) []int {
	t.Helper()
	var mu sync.Mutex // ForEachMaster runs on every primary at once
	var counts []int
	pattern := strings.NewReplacer("{", "\\{", "}", "\\}").Replace(prefix) + "*"
	require.NoError(t, c.ForEachMaster(context.Background(), func(ctx context.Context, n *redis.Client) error {
		cnt := 0
		it := n.Scan(ctx, 0, pattern, 1000).Iterator()
		for it.Next(ctx) {
			cnt++
		}
		mu.Lock()
		counts = append(counts, cnt)
		mu.Unlock()
		return it.Err()
	}))
	return counts
}

func sum(xs []int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}

func testClusterPurge(t *testing.T, c *redis.ClusterClient, hashTags bool) {
	ks := newKeyspace(t, c, cachekey.WithHashTags(hashTags))
	ts := siblings(3)
	purgeAfter(t, ks, ids(ts)...)
	ctx := context.Background()
	const n = 300
	for _, tt := range ts {
		for i := range n {
			k, err := ks.Key(ctxFor(tt), "item", fmt.Sprint(i))
			require.NoError(t, err)
			require.NoError(t, c.Set(ctx, k, "v", time.Hour).Err())
		}
	}
	victim := ts[1]
	ns, _ := ks.Namespace(ctxFor(victim))
	before := perMaster(t, c, ns)
	require.Len(t, before, 3)
	require.Equal(t, n, sum(before))
	spread := 0
	for _, x := range before {
		if x > 0 {
			spread++
		}
	}
	if hashTags {
		assert.Equal(t, 1, spread, "with hash tags a tenant lives on one primary")
	} else {
		assert.Equal(t, 3, spread, "without hash tags a tenant's keys spread over every primary")
	}
	pctx, _ := tenant.WithPlatformScope(ctx, "tenant deleted")
	deleted, err := ks.Purge(pctx, victim.ID)
	require.NoError(t, err)
	assert.EqualValues(t, n, deleted)
	assert.Equal(t, []int{0, 0, 0}, perMaster(t, c, ns), "keys of the purged tenant are left on a primary")
	for _, tt := range []tenant.Tenant{ts[0], ts[2]} {
		other, _ := ks.Namespace(ctxFor(tt))
		assert.Equal(t, n, sum(perMaster(t, c, other)), "purge deleted another tenant's keys")
	}
}

func testClusterGuard(t *testing.T, c *redis.ClusterClient, hashTags bool) {
	audit := &tenanttest.AuditRecorder{}
	ks := newKeyspace(t, c, cachekey.WithHashTags(hashTags), cachekey.WithAuditor(audit))
	guarded := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Options().Addrs})
	t.Cleanup(func() { guarded.Close() })
	g, err := ks.Guard()
	require.NoError(t, err)
	guarded.AddHook(g)
	a, b := tenanttest.NewTenant("acme"), tenanttest.NewTenant("globex")
	purgeAfter(t, ks, a.ID, b.ID)
	ctxA := ctxFor(a)
	nsA, _ := ks.Namespace(ctxA)
	nsB, _ := ks.Namespace(ctxFor(b))
	ctx := context.Background()
	require.NoError(t, c.Set(ctx, nsB+"str", "secret", time.Hour).Err())

	t.Run("another tenant's key is refused before it is sent", func(t *testing.T) {
		for _, cmd := range [][]any{{"get", nsB + "str"}, {"del", nsB + "str"}, {"mset", nsA + "x", "1", nsB + "str", "2"}} {
			err := guarded.Do(ctxA, cmd...).Err()
			assert.ErrorIs(t, err, cachekey.ErrForeignKey, "%v", cmd)
		}
		assert.Equal(t, "secret", c.Get(ctx, nsB+"str").Val())
		assert.Positive(t, audit.Count(tenant.EventCrossTenant))
	})
	t.Run("keyspace-wide commands are refused", func(t *testing.T) {
		for _, cmd := range [][]any{{"keys", "*"}, {"scan", 0}, {"flushall"}} {
			assert.ErrorIs(t, guarded.Do(ctxA, cmd...).Err(), cachekey.ErrCommand, "%v", cmd)
		}
	})
	t.Run("the tenant's own single-key commands run", func(t *testing.T) {
		k, err := ks.Key(ctxA, "counter")
		require.NoError(t, err)
		require.NoError(t, guarded.Incr(ctxA, k).Err())
		assert.Equal(t, "1", guarded.Get(ctxA, k).Val())
	})
	t.Run("a multi-key command over two of the tenant's keys", func(t *testing.T) {
		k1, _ := ks.Key(ctxA, "one")
		k2, _ := ks.Key(ctxA, "two")
		err := guarded.MSet(ctxA, k1, "1", k2, "2").Err()
		if hashTags {
			assert.NoError(t, err, "with hash tags a tenant's keys share a slot")
			assert.Equal(t, []any{"1", "2"}, guarded.MGet(ctxA, k1, k2).Val())
			return
		}
		require.Error(t, err, "without hash tags two keys are (almost always) in two slots")
		assert.Contains(t, err.Error(), "CROSSSLOT")
	})
}
