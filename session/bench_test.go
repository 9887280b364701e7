package session_test

import (
	"context"
	"testing"
	"time"

	"github.com/tenantwall/tenantwall/internal/testenv"
	"github.com/tenantwall/tenantwall/session"
	"github.com/tenantwall/tenantwall/tenant"
)

// BenchmarkRedisLoad loads a session from the Redis store (one GET) beside
// a plain go-redis GET of a value of the same size.
func BenchmarkRedisLoad(b *testing.B) {
	client := testenv.Redis(b)
	store, _ := session.NewRedisStore(client, testenv.Name("twsessbench"))
	ctx := context.Background()
	id := tenant.NewID()
	h := session.Hash(id)
	now := time.Now()
	if err := store.Create(ctx, h, session.Record{TenantID: id, UserID: "alice", Created: now, LastSeen: now, Deadline: now.Add(time.Hour)}, time.Minute); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = store.DeleteTenant(context.Background(), id) })
	plainKey := testenv.Name("twsessbench-plain")
	if err := client.Set(ctx, plainKey, make([]byte, 200), time.Minute).Err(); err != nil {
		b.Fatal(err)
	}
	b.Run("impl=redis-get", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := client.Get(ctx, plainKey).Err(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=session-find", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, found, err := store.Find(ctx, h); err != nil || !found {
				b.Fatal(found, err)
			}
		}
	})
}
