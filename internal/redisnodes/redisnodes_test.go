package redisnodes_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/internal/redisnodes"
	"github.com/tenantwall/tenantwall/internal/testenv"
)

// opaqueClient is a redis.UniversalClient of a type ForEach does not know.
type opaqueClient struct{ redis.UniversalClient }

// visited runs ForEach on c and returns the addresses fn was given,
// sorted.
func visited(t *testing.T, c redis.UniversalClient) ([]string, error) {
	t.Helper()
	var mu sync.Mutex
	var addrs []string
	err := redisnodes.ForEach(context.Background(), c, func(_ context.Context, node *redis.Client) error {
		mu.Lock()
		defer mu.Unlock()
		addrs = append(addrs, node.Options().Addr)
		return nil
	})
	slices.Sort(addrs)
	return addrs, err
}

func TestForEachReachesEveryNodeOnce(t *testing.T) {
	t.Run("one server", func(t *testing.T) {
		c := testenv.Redis(t)
		got, err := visited(t, c)
		require.NoError(t, err)
		assert.Equal(t, []string{c.Options().Addr}, got)
	})
	t.Run("every master of a cluster", func(t *testing.T) {
		rc := testenv.StartRedisCluster(t)
		cc := rc.Client(t)
		var want []string
		for _, a := range rc.Addrs() {
			node := redis.NewClient(&redis.Options{Addr: a})
			info, err := node.Info(context.Background(), "replication").Result()
			node.Close()
			require.NoError(t, err)
			if strings.Contains(info, "role:master") {
				want = append(want, a)
			}
		}
		slices.Sort(want)
		require.Len(t, want, 3)
		got, err := visited(t, cc)
		require.NoError(t, err)
		assert.Equal(t, want, got)
	})
	t.Run("every shard of a Ring", func(t *testing.T) {
		rr := testenv.StartRedisRing(t, 3)
		var want []string
		for _, a := range rr.Addrs() {
			want = append(want, a)
		}
		slices.Sort(want)
		got, err := visited(t, rr.Client(t))
		require.NoError(t, err)
		assert.Equal(t, want, got)
	})
}

func TestForEachRefusesWhatItCannotCover(t *testing.T) {
	t.Run("a Ring with a shard out", func(t *testing.T) {
		rr := testenv.StartRedisRing(t, 3)
		ring := rr.Client(t)
		rr.Server("c").Kill()
		require.Eventually(t, func() bool { return ring.Len() == 2 }, 5*time.Second, 20*time.Millisecond,
			"the Ring takes the stopped shard out")
		got, err := visited(t, ring)
		assert.ErrorIs(t, err, redisnodes.ErrShardDown)
		assert.Empty(t, got, "fn does not run")
	})
	for name, c := range map[string]redis.UniversalClient{
		"a wrapped client": opaqueClient{testenv.Redis(t)},
		"an AutoPipeliner": autoPipeliner(t),
	} {
		t.Run(name, func(t *testing.T) {
			assert.ErrorIs(t, redisnodes.Check(c), redisnodes.ErrClient)
			got, err := visited(t, c)
			assert.ErrorIs(t, err, redisnodes.ErrClient)
			assert.Empty(t, got, "fn does not run")
		})
	}
}

func autoPipeliner(t *testing.T) *redis.AutoPipeliner {
	t.Helper()
	ap, err := testenv.Redis(t).AutoPipeline()
	require.NoError(t, err)
	t.Cleanup(func() { ap.Close() })
	return ap
}
