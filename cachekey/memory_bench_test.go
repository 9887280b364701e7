package cachekey_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenantwall/tenantwall/cachekey"
	"github.com/tenantwall/tenantwall/tenant/tenanttest"
)

// BenchmarkMemoryHit is the embedded mode's hot path: Key alone, and a
// read-through hit (Key, the shard lookup and JSON decoding) of the
// source plan's dashboard entry, serially and from parallel goroutines of
// 8 tenants.
func BenchmarkMemoryHit(b *testing.B) {
	ks, err := cachekey.NewMemory()
	if err != nil {
		b.Fatal(err)
	}
	cache, err := cachekey.NewCache[map[string]int](ks, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	parts := []string{"dashboard", "overview", "42", "all"}
	var ctxs []context.Context
	for range 8 {
		ctx := ctxFor(tenanttest.NewTenant("acme"))
		if _, err := cache.Get(ctx, parts, func(context.Context) (map[string]int, error) {
			return map[string]int{"leads": 3, "tasks": 5}, nil
		}); err != nil {
			b.Fatal(err)
		}
		ctxs = append(ctxs, ctx)
	}
	b.Run("op=key", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			k, err := ks.Key(ctxs[0], parts...)
			if err != nil {
				b.Fatal(err)
			}
			sink = k
		}
	})
	b.Run("op=get", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := cache.Get(ctxs[0], parts, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("op=get-parallel", func(b *testing.B) {
		b.ReportAllocs()
		var next atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			ctx := ctxs[int(next.Add(1))%len(ctxs)]
			for pb.Next() {
				if _, err := cache.Get(ctx, parts, nil); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
