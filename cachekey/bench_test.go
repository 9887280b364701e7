package cachekey_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tenantwall/tenantwall/cachekey"
	"github.com/tenantwall/tenantwall/internal/testenv"
	"github.com/tenantwall/tenantwall/tenant"
	"github.com/tenantwall/tenantwall/tenant/tenanttest"
)

var sink string

// BenchmarkKey builds a 4-part key (the source plan's dashboard key) with
// the generation cached, beside fmt.Sprintf and plain concatenation of the
// same, unescaped and unscoped, string.
func BenchmarkKey(b *testing.B) {
	ks := newKeyspace(b, testenv.Redis(b))
	a := tenanttest.NewTenant("acme")
	purgeAfter(b, ks, a.ID)
	ctx := ctxFor(a)
	user, filter := "42", "all"
	if _, err := ks.Key(ctx, "warm"); err != nil {
		b.Fatal(err)
	}
	b.Run("impl=sprintf", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sink = fmt.Sprintf("%s:%s:tenant_%s:%s:%s", "dashboard", "overview", a.ID, user, filter)
		}
	})
	b.Run("impl=concat", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sink = "dashboard:overview:tenant_" + a.ID + ":" + user + ":" + filter
		}
	})
	b.Run("impl=cachekey", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			k, err := ks.Key(ctx, "dashboard", "overview", user, filter)
			if err != nil {
				b.Fatal(err)
			}
			sink = k
		}
	})
}

// BenchmarkInvalidate drops one tenant's entries with 1,000,000 keys of
// that tenant present: a generation bump against a SCAN+UNLINK purge. Run
// it with -benchtime=1x: each iteration rebuilds the keys.
func BenchmarkInvalidate(b *testing.B) {
	client := testenv.Redis(b)
	const n = 1_000_000
	fill := func(b *testing.B, ks *cachekey.Keyspace, ctx context.Context) {
		b.Helper()
		for start := 0; start < n; start += 10_000 {
			_, err := client.Pipelined(context.Background(), func(p redis.Pipeliner) error {
				for i := start; i < start+10_000; i++ {
					k, err := ks.Key(ctx, "item", strconv.Itoa(i))
					if err != nil {
						return err
					}
					p.Set(context.Background(), k, "v", time.Hour)
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	pctx, _ := tenant.WithPlatformScope(context.Background(), "benchmark")
	for _, mode := range []string{"generation", "purge"} {
		b.Run("mode="+mode, func(b *testing.B) {
			ks := newKeyspace(b, client, cachekey.WithAuditor(tenant.AuditorFunc(func(context.Context, tenant.Event) {})))
			for b.Loop() {
				b.StopTimer()
				a := tenanttest.NewTenant("bench")
				ctx := ctxFor(a)
				fill(b, ks, ctx)
				b.StartTimer()
				if mode == "generation" {
					if err := ks.Invalidate(ctx); err != nil {
						b.Fatal(err)
					}
				} else if _, err := ks.Purge(pctx, a.ID); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if _, err := ks.Purge(pctx, a.ID); err != nil { // clean up either way
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}

// BenchmarkReadThroughHit compares a cache hit through Cache.Get with a
// plain go-redis GET of the same key.
func BenchmarkReadThroughHit(b *testing.B) {
	client := testenv.Redis(b)
	ks := newKeyspace(b, client)
	a := tenanttest.NewTenant("acme")
	purgeAfter(b, ks, a.ID)
	ctx := ctxFor(a)
	cache, _ := cachekey.NewCache[map[string]int](ks, time.Hour)
	parts := []string{"dashboard", "overview", "42", "all"}
	if _, err := cache.Get(ctx, parts, func(context.Context) (map[string]int, error) {
		return map[string]int{"leads": 3, "tasks": 5}, nil
	}); err != nil {
		b.Fatal(err)
	}
	key, _ := ks.Key(ctx, parts...)
	b.Run("impl=redis-get", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := client.Get(ctx, key).Err(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=cache-get", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := cache.Get(ctx, parts, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkGuardCheck is the Guard's cost per command, decided before
// anything is sent: a GET, a two-pair MSET and a GEORADIUS … STORE of the
// context tenant's keys.
func BenchmarkGuardCheck(b *testing.B) {
	ks := newKeyspace(b, testenv.Redis(b))
	g, err := ks.Guard()
	if err != nil {
		b.Fatal(err)
	}
	a := tenanttest.NewTenant("acme")
	ctx := ctxFor(a)
	k1, _ := ks.Key(ctx, "dashboard", "overview", "42", "all")
	k2, _ := ks.Key(ctx, "dashboard", "overview", "43", "all")
	for _, c := range []struct {
		name string
		args []any
	}{
		{"get", []any{"get", k1}},
		{"mset", []any{"mset", k1, "1", k2, "2"}},
		{"georadius-store", []any{"georadius", k1, 0, 0, 10, "km", "STORE", k2}},
	} {
		b.Run("cmd="+c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := g.Check(ctx, c.args); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
