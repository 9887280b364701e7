package cachekey_test

import (
	"testing"

	"github.com/tenantwall/tenantwall/internal/testenv"
	"github.com/tenantwall/tenantwall/tenant/tenanttest"
)

// BenchmarkBump is one Invalidate of a tenant this process knows: the
// generation INCR with the epoch read, the invalidation log's entry and
// the pub/sub message.
func BenchmarkBump(b *testing.B) {
	ks := newKeyspace(b, testenv.Redis(b))
	a := tenanttest.NewTenant("bench")
	purgeAfter(b, ks, a.ID)
	ctx := ctxFor(a)
	if _, err := ks.Key(ctx, "x"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := ks.Invalidate(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
