package blobstore_test

import (
	"context"
	"io"
	"syscall"
	"testing"

	"gocloud.dev/blob/fileblob"

	"github.com/tenantwall/tenantwall/blobstore"
	"github.com/tenantwall/tenantwall/tenant"
	"github.com/tenantwall/tenantwall/tenant/tenanttest"
)

const objectSize = 256 << 20

// pattern is an endless, allocation-free reader of non-constant bytes.
type pattern struct{ n byte }

func (p *pattern) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = p.n
		p.n += 31
	}
	return len(b), nil
}

func maxRSS() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Maxrss) / 1024 // KiB → MiB
}

// BenchmarkTransfer uploads and downloads a 256 MiB object on fileblob,
// through a tenant's Bucket and straight on the base bucket. Run with
// -benchtime=Nx; it reports MB/s and the process's peak RSS.
func BenchmarkTransfer(b *testing.B) {
	dir := b.TempDir()
	base, err := fileblob.OpenBucket(dir, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer base.Close()
	store, _ := blobstore.New(base, blobstore.WithMaxSize(objectSize))
	ctx := tenant.NewContext(context.Background(), tenanttest.NewTenant("acme"))
	tb, _ := store.Bucket(ctx)

	b.Run("op=upload/impl=bare", func(b *testing.B) {
		b.SetBytes(objectSize)
		for b.Loop() {
			w, err := base.NewWriter(ctx, "bare/object", nil)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(w, io.LimitReader(&pattern{}, objectSize)); err != nil {
				b.Fatal(err)
			}
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(maxRSS(), "peak-rss-MiB")
	})
	var key string
	b.Run("op=upload/impl=tenant", func(b *testing.B) {
		b.SetBytes(objectSize)
		for b.Loop() {
			if key != "" {
				_ = tb.Delete(ctx, key)
			}
			obj, err := tb.Upload(ctx, "documents", "big.bin", io.LimitReader(&pattern{}, objectSize), "application/octet-stream")
			if err != nil {
				b.Fatal(err)
			}
			key = obj.Key
		}
		b.ReportMetric(maxRSS(), "peak-rss-MiB")
	})
	download := func(open func() (io.ReadCloser, error)) func(*testing.B) {
		return func(b *testing.B) {
			b.SetBytes(objectSize)
			for b.Loop() {
				r, err := open()
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, r); err != nil {
					b.Fatal(err)
				}
				r.Close()
			}
			b.ReportMetric(maxRSS(), "peak-rss-MiB")
		}
	}
	b.Run("op=download/impl=bare", download(func() (io.ReadCloser, error) { return base.NewReader(ctx, "bare/object", nil) }))
	b.Run("op=download/impl=tenant", download(func() (io.ReadCloser, error) { return tb.Open(ctx, key) }))
}
