package redisquota_test

import (
	"bytes"
	"context"
	"testing"

	"gocloud.dev/blob/memblob"

	"github.com/tenantwall/tenantwall/blobstore"
	"github.com/tenantwall/tenantwall/blobstore/redisquota"
	"github.com/tenantwall/tenantwall/internal/testenv"
)

// BenchmarkUploadDelete is one 4 KiB upload and its delete, on memblob,
// with the use counted in memory and in Redis: the difference is the
// ledger's cost (an upload is 3 scripts: reserve, grow, commit; a delete an
// HGET and a script).
func BenchmarkUploadDelete(b *testing.B) {
	body := make([]byte, 4096)
	run := func(b *testing.B, l blobstore.Ledger, cleanup func(id string)) {
		base := memblob.OpenBucket(nil)
		b.Cleanup(func() { base.Close() })
		opts := []blobstore.Option{blobstore.WithQuota(func(context.Context, string) (blobstore.Quota, error) {
			return blobstore.Quota{Bytes: 1 << 30}, nil
		})}
		if l != nil {
			opts = append(opts, blobstore.WithLedger(l))
		}
		s, err := blobstore.New(base, opts...)
		if err != nil {
			b.Fatal(err)
		}
		tn, ctx := newTenant()
		b.Cleanup(func() { cleanup(tn.ID) })
		bk, err := s.Bucket(ctx)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			obj, err := bk.Upload(ctx, "documents", "f.bin", bytes.NewReader(body), "application/octet-stream")
			if err != nil {
				b.Fatal(err)
			}
			if err := bk.Delete(ctx, obj.Key); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("ledger=memory", func(b *testing.B) { run(b, nil, func(string) {}) })
	b.Run("ledger=redis", func(b *testing.B) {
		c := testenv.Redis(b)
		l, err := redisquota.New(c)
		if err != nil {
			b.Fatal(err)
		}
		run(b, l, func(id string) {
			c.Del(context.Background(), "tw:bq:{"+id+"}:s", "tw:bq:{"+id+"}:r", "tw:bq:{"+id+"}:d")
		})
	})
}
