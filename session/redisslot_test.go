package session_test

import (
	"context"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/internal/testenv"
	"github.com/tenantwall/tenantwall/session"
	"github.com/tenantwall/tenantwall/session/sessiontest"
	"github.com/tenantwall/tenantwall/tenant"
)

// scanCounter counts the SCAN commands each Redis node receives.
type scanCounter struct {
	mu     sync.Mutex
	byAddr map[string]int
}

// watch counts the SCANs sent through rdb.
func (c *scanCounter) watch(rdb *redis.Client) { rdb.AddHook(scanHook{c, rdb.Options().Addr}) }

func (c *scanCounter) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.byAddr = map[string]int{}
}

// nodes returns the addresses that received a SCAN, sorted.
func (c *scanCounter) nodes() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var addrs []string
	for a := range c.byAddr {
		addrs = append(addrs, a)
	}
	slices.Sort(addrs)
	return addrs
}

type scanHook struct {
	c    *scanCounter
	addr string
}

func (h scanHook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) { return next(ctx, network, addr) }
}

func (h scanHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() == "scan" {
			h.c.mu.Lock()
			if h.c.byAddr == nil {
				h.c.byAddr = map[string]int{}
			}
			h.c.byAddr[h.addr]++
			h.c.mu.Unlock()
		}
		return next(ctx, cmd)
	}
}

func (h scanHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// keysNaming returns the keys on every node of client (every master of a
// cluster, every shard of a ring) whose name contains id.
func keysNaming(t *testing.T, client redis.UniversalClient, id string) []string {
	t.Helper()
	ctx := context.Background()
	var mu sync.Mutex
	var keys []string
	scan := func(ctx context.Context, c *redis.Client) error {
		iter := c.Scan(ctx, 0, "*"+id+"*", 1000).Iterator()
		for iter.Next(ctx) {
			mu.Lock()
			keys = append(keys, iter.Val())
			mu.Unlock()
		}
		return iter.Err()
	}
	var err error
	switch c := client.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, scan)
	case *redis.Ring:
		err = c.ForEachShard(ctx, scan)
	case *redis.Client:
		err = scan(ctx, c)
	default:
		t.Fatalf("keysNaming: client %T", client)
	}
	require.NoError(t, err)
	return keys
}

// slotFixture is a tenant whose sessions DeleteTenant is to end, beside
// two tenants whose sessions it must keep: one whose keys live on the
// same Redis node and one whose keys live on another.
type slotFixture struct {
	store             *session.RedisStore
	prefix            string
	gone, near, far   string
	goneHashes        []string
	nearHash, farHash string
}

// newSlotFixture makes the tenants on client, each with sessions of a
// user "1": gone's users 1, 2 (twice) and 3, whose record expired while
// its hash stays in the indexes. node names the node that holds a key
// (nil for a single server).
func newSlotFixture(t *testing.T, client redis.UniversalClient, node func(key string) string) *slotFixture {
	t.Helper()
	ctx := context.Background()
	f := &slotFixture{prefix: testenv.Name("twsessslot")}
	var err error
	f.store, err = session.NewRedisStore(client, f.prefix)
	require.NoError(t, err)
	index := func(id string) string { return f.prefix + ":{" + id + "}:t" }
	f.gone = tenant.NewID()
	if node == nil { // one server: every key is on it
		f.near, f.far = tenant.NewID(), tenant.NewID()
	}
	for f.near == "" || f.far == "" {
		id := tenant.NewID()
		if node(index(id)) == node(index(f.gone)) {
			f.near = id
		} else {
			f.far = id
		}
	}
	rec := func(id, user string) session.Record {
		now := time.Now()
		return session.Record{TenantID: id, UserID: user, Created: now, LastSeen: now, Deadline: now.Add(time.Hour)}
	}
	for _, user := range []string{"1", "2", "2", "3"} {
		h := session.Hash(tenant.NewID())
		require.NoError(t, f.store.Create(ctx, h, rec(f.gone, user), time.Hour))
		f.goneHashes = append(f.goneHashes, h)
	}
	require.NoError(t, client.Del(ctx, f.prefix+":s:"+f.goneHashes[3]).Err()) // expired, still indexed
	f.nearHash, f.farHash = session.Hash(tenant.NewID()), session.Hash(tenant.NewID())
	require.NoError(t, f.store.Create(ctx, f.nearHash, rec(f.near, "1"), time.Hour))
	require.NoError(t, f.store.Create(ctx, f.farHash, rec(f.far, "1"), time.Hour))
	t.Cleanup(func() {
		for _, id := range []string{f.gone, f.near, f.far} {
			_ = f.store.DeleteTenant(context.Background(), id)
		}
	})
	return f
}

// check asserts that DeleteTenant(gone) left no key naming gone on any
// node, and every session and index entry of the other two tenants.
func (f *slotFixture) check(t *testing.T, client redis.UniversalClient) {
	t.Helper()
	ctx := context.Background()
	assert.Empty(t, keysNaming(t, client, f.gone), "keys naming the deleted tenant")
	for _, h := range f.goneHashes {
		_, found, err := f.store.Find(ctx, h)
		require.NoError(t, err)
		assert.False(t, found, "a session of the deleted tenant")
	}
	for id, h := range map[string]string{f.near: f.nearHash, f.far: f.farHash} {
		_, found, err := f.store.Find(ctx, h)
		require.NoError(t, err)
		assert.True(t, found, "another tenant's session stays")
		for _, k := range []string{f.prefix + ":{" + id + "}:t", f.prefix + ":{" + id + "}:u:1"} {
			members, err := client.SMembers(ctx, k).Result()
			require.NoError(t, err)
			assert.Equal(t, []string{h}, members, "another tenant's index %s stays", k)
		}
	}
}

// On a Redis Cluster all of a tenant's index keys share one hash slot, so
// DeleteTenant looks for its users' index sets on the master that serves
// that slot only, not on every master; and still leaves none of them,
// while another tenant's on the same master and on another stay.
func TestRedisDeleteTenantOnClusterScansTheSlotOwnerOnly(t *testing.T) {
	rc := testenv.StartRedisCluster(t)
	var scans scanCounter
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: rc.Addrs()})
	cc.OnNewNode(scans.watch) // before the first command makes the nodes' clients
	t.Cleanup(func() { cc.Close() })
	ctx := context.Background()
	node := func(key string) string {
		c, err := cc.MasterForKey(ctx, key)
		require.NoError(t, err)
		return c.Options().Addr
	}
	f := newSlotFixture(t, cc, node)
	scans.reset()

	require.NoError(t, f.store.DeleteTenant(ctx, f.gone))

	assert.Equal(t, []string{node(f.prefix + ":{" + f.gone + "}:t")}, scans.nodes(), "the nodes DeleteTenant scanned")
	f.check(t, cc)
}

// A Ring places keys by their hash tag as well: the tenant's index keys
// are all on one shard, which DeleteTenant scans, and no other shard's
// keys are touched. The store passes the conformance suite on a Ring.
func TestRedisStoreOnRing(t *testing.T) {
	addrs := map[string]string{}
	for _, name := range []string{"a", "b", "c"} {
		addrs[name] = testenv.StartRedisServer(t).Addr()
	}
	var scans scanCounter
	ring := redis.NewRing(&redis.RingOptions{Addrs: addrs, NewClient: func(opt *redis.Options) *redis.Client {
		c := redis.NewClient(opt)
		scans.watch(c)
		return c
	}})
	t.Cleanup(func() { ring.Close() })
	ctx := context.Background()
	require.NoError(t, ring.ForEachShard(ctx, func(ctx context.Context, c *redis.Client) error { return c.Ping(ctx).Err() }))

	t.Run("DeleteTenant scans every shard and leaves none of its keys, a stand-in shard's included", func(t *testing.T) {
		node := func(key string) string {
			c, err := ring.GetShardClientForKey(key)
			require.NoError(t, err)
			return c.Options().Addr
		}
		f := newSlotFixture(t, ring, node)
		// A user index set written while the tenant's shard was out of
		// the Ring sits on the shard that stood in for it.
		home := node(f.prefix + ":{" + f.gone + "}:t")
		var standIn *redis.Client
		for _, addr := range addrs {
			if addr != home {
				standIn = redis.NewClient(&redis.Options{Addr: addr})
				t.Cleanup(func() { standIn.Close() })
				break
			}
		}
		require.NotNil(t, standIn)
		require.NoError(t, standIn.SAdd(ctx, f.prefix+":{"+f.gone+"}:u:9", f.goneHashes[0]).Err())
		scans.reset()
		require.NoError(t, f.store.DeleteTenant(ctx, f.gone))
		assert.Len(t, scans.nodes(), 3, "the shards DeleteTenant scanned")
		f.check(t, ring)
	})
	t.Run("conformance", func(t *testing.T) {
		sessiontest.RunStoreTests(t, func(t *testing.T) session.Store {
			s, err := session.NewRedisStore(ring, testenv.Name("twsesstest"))
			require.NoError(t, err)
			return s
		})
	})
}

// On a single server DeleteTenant keeps its guarantees too (the same
// fixture; the one node is the only one there is).
func TestRedisDeleteTenantOnOneServer(t *testing.T) {
	client := testenv.Redis(t)
	f := newSlotFixture(t, client, nil)
	require.NoError(t, f.store.DeleteTenant(context.Background(), f.gone))
	f.check(t, client)
}

// While the tenant's slot migrates to another master, some of its user
// index sets are already there: DeleteTenant finds the migration on the
// slot's master after scanning it and scans every master, so that none is
// left.
func TestRedisDeleteTenantWhileItsSlotMigrates(t *testing.T) {
	rc := testenv.StartRedisCluster(t)
	var scans scanCounter
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: rc.Addrs()})
	cc.OnNewNode(scans.watch)
	t.Cleanup(func() { cc.Close() })
	ctx := context.Background()
	node := func(key string) *redis.Client {
		c, err := cc.MasterForKey(ctx, key)
		require.NoError(t, err)
		return c
	}
	f := newSlotFixture(t, cc, func(key string) string { return node(key).Options().Addr })
	tk := f.prefix + ":{" + f.gone + "}:t"
	source := node(tk)
	var mu sync.Mutex
	var target *redis.Client
	require.NoError(t, cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		mu.Lock()
		defer mu.Unlock()
		if c.Options().Addr != source.Options().Addr {
			target = c
		}
		return nil
	}))
	slot, err := source.ClusterKeySlot(ctx, tk).Result()
	require.NoError(t, err)
	sourceID, err := source.ClusterMyID(ctx).Result()
	require.NoError(t, err)
	targetID, err := target.ClusterMyID(ctx).Result()
	require.NoError(t, err)
	require.NoError(t, target.Do(ctx, "cluster", "setslot", slot, "importing", sourceID).Err())
	require.NoError(t, source.Do(ctx, "cluster", "setslot", slot, "migrating", targetID).Err())
	host, port, err := net.SplitHostPort(target.Options().Addr)
	require.NoError(t, err)
	moved := f.prefix + ":{" + f.gone + "}:u:2"
	require.NoError(t, source.Migrate(ctx, host, port, moved, 0, 5*time.Second).Err())
	scans.reset()

	require.NoError(t, f.store.DeleteTenant(ctx, f.gone))

	assert.Len(t, scans.nodes(), 3, "every master is scanned while the slot migrates")
	f.check(t, cc)
}

// servesSlot reads a master's CLUSTER NODES line and refuses what it does
// not understand.
func TestServesSlot(t *testing.T) {
	const others = "07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1:30004@31004,,shard-id=69bc slave e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 0 1426238317239 4 connected\n" +
		"67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 127.0.0.1:30002@31002,,shard-id=114f master - 0 1426238316232 2 connected 5461-10922\n"
	myself := func(flags, slots string) string {
		return others + "e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:30001@31001,,shard-id=69bc " + flags +
			" - 0 0 1 connected" + slots + "\n"
	}
	for _, c := range []struct {
		name  string
		nodes string
		want  bool
	}{
		{"a slot in one of its ranges is served", myself("myself,master", " 0-5460 10923-16383"), true},
		{"a single slot is served", myself("myself,master", " 0-5460 12000"), true},
		{"a slot outside its ranges is not", myself("myself,master", " 0-1000 12001-12002"), false},
		{"a master without slots serves none", myself("myself,master", ""), false},
		{"a slot migrating away is not served", myself("myself,master", " 0-16383 [12000->-67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1]"), false},
		{"a slot being imported is not served", myself("myself,master", " 0-5460 [12000-<-67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1]"), false},
		{"another slot's migration does not matter", myself("myself,master", " 0-16383 [7->-67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1]"), true},
		{"a replica serves no slot", myself("myself,slave", " 0-16383"), false},
		{"an answer without its own line is not understood", others, false},
		{"a range it cannot read is not understood", myself("myself,master", " 0-16383 x"), false},
		{"a migration it cannot read is not understood", myself("myself,master", " 0-16383 [x->-67ed]"), false},
		{"an empty answer is not understood", "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.want, session.ServesSlot(c.nodes, 12000))
		})
	}
}

// opaqueClient is a redis.UniversalClient of a type the store does not
// know: it cannot tell which node a SCAN through it reaches.
type opaqueClient struct{ redis.UniversalClient }

// A client of a type the store does not know: DeleteTenant refuses it
// before deleting anything, rather than look for the users' index sets
// where it cannot know it would find them and report them gone; the same
// deletion through a client it knows then leaves nothing of the tenant.
func TestRedisDeleteTenantRefusesAClientOfUnknownType(t *testing.T) {
	client := testenv.Redis(t)
	f := newSlotFixture(t, opaqueClient{client}, nil)
	ctx := context.Background()
	require.ErrorIs(t, f.store.DeleteTenant(ctx, f.gone), session.ErrConfig)
	_, found, err := f.store.Find(ctx, f.goneHashes[0])
	require.NoError(t, err)
	assert.True(t, found, "nothing was deleted")

	plain, err := session.NewRedisStore(client, f.prefix)
	require.NoError(t, err)
	require.NoError(t, plain.DeleteTenant(ctx, f.gone))
	f.check(t, client)
}
