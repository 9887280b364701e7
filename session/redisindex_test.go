package session_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/internal/testenv"
	"github.com/tenantwall/tenantwall/session"
	"github.com/tenantwall/tenantwall/tenant"
)

// afterSMembers runs fn once, right after the first SMEMBERS answers: a
// session created by another request between DestroyUser's read of the
// index and the rest of it.
type afterSMembers struct {
	once sync.Once
	fn   func()
}

func (h *afterSMembers) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) { return next(ctx, network, addr) }
}

func (h *afterSMembers) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() == "smembers" {
			err := next(ctx, cmd)
			h.once.Do(h.fn)
			return err
		}
		return next(ctx, cmd)
	}
}

func (h *afterSMembers) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// A session created while DestroyUser or DestroyTenant runs may outlive
// that call, but it must stay in the index: otherwise no later
// DestroyUser or DestroyTenant could ever end it.
func TestRedisIndexKeepsSessionsCreatedDuringADestroy(t *testing.T) {
	for _, by := range []string{"DeleteUser", "DeleteTenant"} {
		t.Run("a session created during "+by+" is ended by the next "+by, func(t *testing.T) {
			base := testenv.Redis(t)
			client := redis.NewClient(base.Options())
			t.Cleanup(func() { client.Close() })
			prefix := testenv.Name("twsessrace")
			s, err := session.NewRedisStore(client, prefix)
			require.NoError(t, err)
			plain, err := session.NewRedisStore(base, prefix)
			require.NoError(t, err)
			ctx := context.Background()
			id := tenant.NewID()
			t.Cleanup(func() { _ = plain.DeleteTenant(context.Background(), id) })
			now := time.Now()
			rec := session.Record{TenantID: id, UserID: "alice", Created: now, LastSeen: now, Deadline: now.Add(time.Hour)}
			first, late := session.Hash(tenant.NewID()), session.Hash(tenant.NewID())
			require.NoError(t, s.Create(ctx, first, rec, time.Hour))
			client.AddHook(&afterSMembers{fn: func() { require.NoError(t, plain.Create(ctx, late, rec, time.Hour)) }})
			destroy := func() error {
				if by == "DeleteUser" {
					return s.DeleteUser(ctx, id, "alice")
				}
				return s.DeleteTenant(ctx, id)
			}
			require.NoError(t, destroy())
			_, found, err := s.Find(ctx, first)
			require.NoError(t, err)
			assert.False(t, found, "the session that existed before is ended")
			require.NoError(t, destroy())
			_, found, err = s.Find(ctx, late)
			require.NoError(t, err)
			assert.False(t, found, "the session created during the first destroy survives the second")
		})
	}
}

// DeleteTenant leaves no key of the tenant: its records, its index set,
// and its users' index sets, including hashes of sessions that expired.
func TestRedisDeleteTenantLeavesNoKey(t *testing.T) {
	client := testenv.Redis(t)
	prefix := testenv.Name("sessidx")
	st, err := session.NewRedisStore(client, prefix)
	require.NoError(t, err)
	ctx := context.Background()
	gone, kept := tenant.NewID(), tenant.NewID()
	rec := func(id, user string) session.Record {
		return session.Record{TenantID: id, UserID: user, Created: time.Now(), LastSeen: time.Now(), Deadline: time.Now().Add(time.Hour)}
	}
	for i, user := range []string{"1", "2", "2"} {
		require.NoError(t, st.Create(ctx, testenv.Name("g")+string(rune('a'+i)), rec(gone, user), time.Hour))
	}
	short := testenv.Name("short")
	require.NoError(t, st.Create(ctx, short, rec(gone, "3"), time.Hour))
	require.NoError(t, client.Del(ctx, prefix+":s:"+short).Err()) // expired, still indexed
	keptHash := testenv.Name("k")
	require.NoError(t, st.Create(ctx, keptHash, rec(kept, "1"), time.Hour))
	t.Cleanup(func() { _ = st.DeleteTenant(context.Background(), kept) })

	require.NoError(t, st.DeleteTenant(ctx, gone))
	var left []string
	iter := client.Scan(ctx, 0, "*"+gone+"*", 1000).Iterator()
	for iter.Next(ctx) {
		left = append(left, iter.Val())
	}
	require.NoError(t, iter.Err())
	assert.Empty(t, left, "keys naming the deleted tenant")
	_, found, err := st.Find(ctx, keptHash)
	require.NoError(t, err)
	assert.True(t, found, "another tenant's session stays")
	n, err := client.SCard(ctx, prefix+":{"+kept+"}:u:1").Result()
	require.NoError(t, err)
	assert.EqualValues(t, 1, n, "another tenant's user index stays")
}
