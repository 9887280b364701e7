package blobstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gocloud.dev/blob"
	"gocloud.dev/blob/memblob"

	"github.com/tenantwall/tenantwall/blobstore"
	"github.com/tenantwall/tenantwall/tenant"
)

type usageRecorder struct {
	mu   sync.Mutex
	last map[string]blobstore.Usage
}

func (u *usageRecorder) BlobUsage(ctx context.Context, objects, bytes int64) {
	id, _ := tenant.IDFromContext(ctx)
	u.mu.Lock()
	defer u.mu.Unlock()
	u.last[id] = blobstore.Usage{Objects: objects, Bytes: bytes}
}

func fixedQuota(q blobstore.Quota) blobstore.QuotaFunc {
	return func(context.Context, string) (blobstore.Quota, error) { return q, nil }
}

// listed is what the bucket holds under the tenant's prefix.
func listed(t *testing.T, b *blobstore.Bucket, ctx context.Context) blobstore.Usage {
	t.Helper()
	u, err := b.Usage(ctx)
	require.NoError(t, err)
	return u
}

func TestAnUploadOverTheQuotaIsRefusedAndNothingStored(t *testing.T) {
	drivers(t, func(t *testing.T, base *blob.Bucket) {
		tt := newTwo()
		quotas := map[string]blobstore.Quota{tt.a.ID: {Bytes: 100, Objects: 3}, tt.b.ID: {Bytes: 1000}}
		store, err := blobstore.New(base, blobstore.WithQuota(func(_ context.Context, id string) (blobstore.Quota, error) {
			return quotas[id], nil
		}))
		require.NoError(t, err)
		ba, err := store.Bucket(tt.ctxA)
		require.NoError(t, err)

		_, err = ba.Upload(tt.ctxA, "documents", "a.txt", strings.NewReader(strings.Repeat("a", 60)), "text/plain")
		require.NoError(t, err)
		_, err = ba.Upload(tt.ctxA, "documents", "b.txt", strings.NewReader(strings.Repeat("b", 41)), "text/plain")
		require.ErrorIs(t, err, blobstore.ErrQuota, "60 + 41 bytes pass a quota of 100")
		assert.Equal(t, blobstore.Usage{Objects: 1, Bytes: 60}, listed(t, ba, tt.ctxA), "the refused upload left nothing")
		_, err = ba.Upload(tt.ctxA, "documents", "c.txt", strings.NewReader(strings.Repeat("c", 40)), "text/plain")
		require.NoError(t, err, "exactly the quota is allowed")
		_, err = ba.Upload(tt.ctxA, "documents", "d.txt", strings.NewReader("d"), "text/plain")
		require.ErrorIs(t, err, blobstore.ErrQuota)

		bb, err := store.Bucket(tt.ctxB)
		require.NoError(t, err)
		_, err = bb.Upload(tt.ctxB, "documents", "b.txt", strings.NewReader(strings.Repeat("b", 500)), "text/plain")
		require.NoError(t, err, "acme's use is not globex's")

		quotas[tt.a.ID] = blobstore.Quota{Objects: 2}
		_, err = ba.Upload(tt.ctxA, "documents", "e.txt", strings.NewReader("e"), "text/plain")
		require.ErrorIs(t, err, blobstore.ErrQuota, "two objects are stored: the object quota is full")
	})
}

func TestDeletingFreesTheQuota(t *testing.T) {
	drivers(t, func(t *testing.T, base *blob.Bucket) {
		tt := newTwo()
		rec := &usageRecorder{last: map[string]blobstore.Usage{}}
		store, err := blobstore.New(base, blobstore.WithQuota(fixedQuota(blobstore.Quota{Bytes: 10})), blobstore.WithObserver(rec))
		require.NoError(t, err)
		ba, err := store.Bucket(tt.ctxA)
		require.NoError(t, err)
		obj, err := ba.Upload(tt.ctxA, "documents", "a.txt", strings.NewReader("0123456789"), "text/plain")
		require.NoError(t, err)
		assert.Equal(t, blobstore.Usage{Objects: 1, Bytes: 10}, rec.last[tt.a.ID])
		_, err = ba.Upload(tt.ctxA, "documents", "b.txt", strings.NewReader("x"), "text/plain")
		require.ErrorIs(t, err, blobstore.ErrQuota)
		require.NoError(t, ba.Delete(tt.ctxA, obj.Key))
		assert.Equal(t, blobstore.Usage{}, rec.last[tt.a.ID])
		require.ErrorIs(t, ba.Delete(tt.ctxA, obj.Key), blobstore.ErrNotFound, "a second delete counts nothing")
		_, err = ba.Upload(tt.ctxA, "documents", "b.txt", strings.NewReader("0123456789"), "text/plain")
		require.NoError(t, err)
	})
}

// TestQuotaAccountingIsExactUnderConcurrency uploads and deletes from many
// goroutines at once, some uploads over what remains, and checks that the
// quota was never passed and that the counted use is what the bucket
// holds.
func TestQuotaAccountingIsExactUnderConcurrency(t *testing.T) {
	drivers(t, func(t *testing.T, base *blob.Bucket) {
		tt := newTwo()
		const quota = 20_000
		rec := &usageRecorder{last: map[string]blobstore.Usage{}}
		store, err := blobstore.New(base, blobstore.WithQuota(fixedQuota(blobstore.Quota{Bytes: quota})), blobstore.WithObserver(rec))
		require.NoError(t, err)
		ba, err := store.Bucket(tt.ctxA)
		require.NoError(t, err)
		// Some objects exist before this process counts: they are counted
		// from the bucket.
		pre, err := blobstore.New(base)
		require.NoError(t, err)
		pb, err := pre.Bucket(tt.ctxA)
		require.NoError(t, err)
		var keys sync.Map
		for i := range 5 {
			obj, err := pb.Upload(tt.ctxA, "documents", fmt.Sprint("pre", i), bytes.NewReader(make([]byte, 1000)), "application/octet-stream")
			require.NoError(t, err)
			keys.Store(obj.Key, true)
		}

		var wg sync.WaitGroup
		var mu sync.Mutex
		refused := 0
		for g := range 16 {
			wg.Go(func() {
				for i := range 12 {
					size := 300 + (g*131+i*977)%2500
					obj, err := ba.Upload(tt.ctxA, "documents", "f.bin", bytes.NewReader(make([]byte, size)), "application/octet-stream")
					switch {
					case errors.Is(err, blobstore.ErrQuota):
						mu.Lock()
						refused++
						mu.Unlock()
					case err != nil:
						t.Error(err)
						return
					default:
						keys.Store(obj.Key, true)
					}
					if i%3 == 2 { // delete one stored object, possibly one another goroutine deletes too
						keys.Range(func(k, _ any) bool {
							err := ba.Delete(tt.ctxA, k.(string))
							if err != nil && !errors.Is(err, blobstore.ErrNotFound) {
								t.Error(err)
							}
							keys.Delete(k)
							return false
						})
					}
					// A listing may fail while another goroutine deletes
					// (fileblob); one that succeeds must be within the quota.
					if u, err := ba.Usage(tt.ctxA); err == nil && u.Bytes > quota {
						t.Errorf("the bucket holds %d bytes, over the quota of %d", u.Bytes, quota)
					}
				}
			})
		}
		wg.Wait()
		require.Positive(t, refused, "the test never reached the quota")
		want := listed(t, ba, tt.ctxA)
		assert.LessOrEqual(t, want.Bytes, int64(quota))
		assert.Equal(t, want, rec.last[tt.a.ID], "the counted use is what the bucket holds")

		// A new process counts the same from the bucket.
		again, err := blobstore.New(base, blobstore.WithObserver(rec))
		require.NoError(t, err)
		ab, err := again.Bucket(tt.ctxA)
		require.NoError(t, err)
		_, err = ab.Upload(tt.ctxA, "documents", "last.bin", strings.NewReader("x"), "application/octet-stream")
		require.NoError(t, err)
		want.Objects++
		want.Bytes++
		assert.Equal(t, want, rec.last[tt.a.ID], "a restarted process recounts the use from the bucket")
	})
}

func TestAQuotaFailureRefusesTheUpload(t *testing.T) {
	drivers(t, func(t *testing.T, base *blob.Bucket) {
		tt := newTwo()
		boom := errors.New("plan store down")
		store, err := blobstore.New(base, blobstore.WithQuota(func(context.Context, string) (blobstore.Quota, error) {
			return blobstore.Quota{}, boom
		}))
		require.NoError(t, err)
		ba, err := store.Bucket(tt.ctxA)
		require.NoError(t, err)
		_, err = ba.Upload(tt.ctxA, "documents", "a.txt", strings.NewReader("a"), "text/plain")
		require.ErrorIs(t, err, boom)
		assert.Equal(t, blobstore.Usage{}, listed(t, ba, tt.ctxA))
	})
	_, err := blobstore.New(nil)
	require.Error(t, err)
	for _, opt := range []blobstore.Option{blobstore.WithQuota(nil), blobstore.WithObserver(nil)} {
		_, err := blobstore.New(memBucket(t), opt)
		assert.ErrorIs(t, err, blobstore.ErrConfig)
	}
}

func memBucket(t *testing.T) *blob.Bucket {
	b := memblob.OpenBucket(nil)
	t.Cleanup(func() { b.Close() })
	return b
}

// reserveCounter counts the Reserve calls that grow a reservation by
// bytes of the body.
type reserveCounter struct {
	blobstore.Ledger
	grows atomic.Int64
}

func (c *reserveCounter) Reserve(ctx context.Context, tenantID, id string, n blobstore.Usage, q blobstore.Quota) error {
	if n.Objects == 0 {
		c.grows.Add(1)
	}
	return c.Ledger.Reserve(ctx, tenantID, id, n, q)
}

// TestALargeUploadReservesAMiBAtATime: each reservation is a ledger call
// (a Redis round trip with redisquota), so the body is reserved in chunks
// of a MiB, not of io.Copy's 32 KiB; the count stays exact, and an upload
// over the quota is still refused with nothing stored.
func TestALargeUploadReservesAMiBAtATime(t *testing.T) {
	drivers(t, func(t *testing.T, base *blob.Bucket) {
		tt := newTwo()
		const mib = 1 << 20
		ledger := &reserveCounter{Ledger: blobstore.NewMemLedger()}
		rec := &usageRecorder{last: map[string]blobstore.Usage{}}
		store, err := blobstore.New(base, blobstore.WithQuota(fixedQuota(blobstore.Quota{Bytes: 6*mib + 10})),
			blobstore.WithLedger(ledger), blobstore.WithObserver(rec))
		require.NoError(t, err)
		ba, err := store.Bucket(tt.ctxA)
		require.NoError(t, err)

		_, err = ba.Upload(tt.ctxA, "documents", "big.bin", bytes.NewReader(make([]byte, 4*mib+1)), "application/octet-stream")
		require.NoError(t, err)
		assert.LessOrEqual(t, ledger.grows.Load(), int64(5), "one reservation per MiB of the body")
		assert.Equal(t, blobstore.Usage{Objects: 1, Bytes: 4*mib + 1}, rec.last[tt.a.ID])

		_, err = ba.Upload(tt.ctxA, "documents", "over.bin", bytes.NewReader(make([]byte, 2*mib+10)), "application/octet-stream")
		require.ErrorIs(t, err, blobstore.ErrQuota, "one byte over the quota")
		assert.Equal(t, blobstore.Usage{Objects: 1, Bytes: 4*mib + 1}, listed(t, ba, tt.ctxA), "the refused upload left nothing")
		_, err = ba.Upload(tt.ctxA, "documents", "rest.bin", bytes.NewReader(make([]byte, 2*mib+9)), "application/octet-stream")
		require.NoError(t, err, "exactly the quota is allowed: the refused upload's reservation was released")
		assert.Equal(t, blobstore.Usage{Objects: 2, Bytes: 6*mib + 10}, rec.last[tt.a.ID])
		assert.Equal(t, rec.last[tt.a.ID], listed(t, ba, tt.ctxA))
	})
}
