package redisquota_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"

	"github.com/tenantwall/tenantwall/blobstore"
	"github.com/tenantwall/tenantwall/blobstore/redisquota"
	"github.com/tenantwall/tenantwall/internal/testenv"
	"github.com/tenantwall/tenantwall/tenant"
)

const quota = 20_000

func newTenant() (tenant.Tenant, context.Context) {
	t := tenant.Tenant{ID: tenant.NewID(), Slug: "t" + tenant.NewID()[:8], Name: "T", Status: tenant.StatusActive}
	return t, tenant.NewContext(context.Background(), t)
}

// instance is one "process": its own handle on the shared directory and
// its own Store.
func instance(t *testing.T, dir string, l blobstore.Ledger, ctx context.Context) *blobstore.Bucket {
	t.Helper()
	base, err := fileblob.OpenBucket(dir, nil)
	require.NoError(t, err)
	t.Cleanup(func() { base.Close() })
	opts := []blobstore.Option{blobstore.WithQuota(func(context.Context, string) (blobstore.Quota, error) {
		return blobstore.Quota{Bytes: quota}, nil
	})}
	if l != nil {
		opts = append(opts, blobstore.WithLedger(l))
	}
	s, err := blobstore.New(base, opts...)
	require.NoError(t, err)
	b, err := s.Bucket(ctx)
	require.NoError(t, err)
	return b
}

// hammer uploads and deletes from many goroutines through both buckets
// and returns the most the bucket was seen to hold.
func hammer(t *testing.T, ctx context.Context, bs ...*blobstore.Bucket) (most int64) {
	var keys sync.Map
	var refused atomic.Int64
	var mostSeen atomic.Int64
	var wg sync.WaitGroup
	for g := range 12 {
		b := bs[g%len(bs)]
		wg.Go(func() {
			for i := range 12 {
				size := 300 + (g*131+i*977)%2500
				obj, err := b.Upload(ctx, "documents", "f.bin", bytes.NewReader(make([]byte, size)), "application/octet-stream")
				switch {
				case errors.Is(err, blobstore.ErrQuota):
					refused.Add(1)
				case err != nil:
					t.Error(err)
					return
				default:
					keys.Store(obj.Key, true)
				}
				if i%4 == 3 { // delete through either instance
					keys.Range(func(k, _ any) bool {
						err := bs[(g+i)%len(bs)].Delete(ctx, k.(string))
						if err != nil && !errors.Is(err, blobstore.ErrNotFound) {
							t.Error(err)
						}
						keys.Delete(k)
						return false
					})
				}
				// fileblob listings may fail while another goroutine deletes.
				if u, err := b.Usage(ctx); err == nil {
					for {
						m := mostSeen.Load()
						if u.Bytes <= m || mostSeen.CompareAndSwap(m, u.Bytes) {
							break
						}
					}
				}
			}
		})
	}
	wg.Wait()
	require.Positive(t, refused.Load(), "the test never reached the quota")
	u, err := bs[0].Usage(ctx)
	require.NoError(t, err)
	return max(mostSeen.Load(), u.Bytes)
}

// ledgerState reads the tenant's hash as the scripts keep it.
func ledgerState(t *testing.T, c redis.UniversalClient, id string) (used, reserved blobstore.Usage) {
	t.Helper()
	v, err := c.HMGet(context.Background(), "tw:bq:{"+id+"}:s", "o", "b", "ro", "rb").Result()
	require.NoError(t, err)
	n := func(x any) int64 {
		var i int64
		if s, ok := x.(string); ok {
			fmt.Sscan(s, &i)
		}
		return i
	}
	return blobstore.Usage{Objects: n(v[0]), Bytes: n(v[1])}, blobstore.Usage{Objects: n(v[2]), Bytes: n(v[3])}
}

func warm(t *testing.T, ctx context.Context, bs ...*blobstore.Bucket) {
	t.Helper()
	for _, b := range bs { // both instances have counted the tenant before the race
		_, err := b.Upload(ctx, "documents", "warm.bin", strings.NewReader("w"), "application/octet-stream")
		require.NoError(t, err)
	}
}

func TestTwoInstancesSharingARedisLedgerStayWithinTheQuota(t *testing.T) {
	c := testenv.Redis(t)
	l, err := redisquota.New(c)
	require.NoError(t, err)
	tn, ctx := newTenant()
	t.Cleanup(func() {
		c.Del(context.Background(), "tw:bq:{"+tn.ID+"}:s", "tw:bq:{"+tn.ID+"}:r", "tw:bq:{"+tn.ID+"}:d")
	})
	dir := t.TempDir()
	one, two := instance(t, dir, l, ctx), instance(t, dir, l, ctx)
	warm(t, ctx, one, two)

	most := hammer(t, ctx, one, two)
	assert.LessOrEqual(t, most, int64(quota), "the instances together passed the quota")
	listed, err := one.Usage(ctx)
	require.NoError(t, err)
	used, reserved := ledgerState(t, c, tn.ID)
	assert.Equal(t, listed, used, "the ledger is what the bucket holds")
	assert.Equal(t, blobstore.Usage{}, reserved, "no reservation is left")
}

// TestTwoInstancesWithInMemoryLedgersPassTheQuota is the same race with
// each instance counting in its own memory: it shows that the test above
// can fail.
func TestTwoInstancesWithInMemoryLedgersPassTheQuota(t *testing.T) {
	_, ctx := newTenant()
	dir := t.TempDir()
	one, two := instance(t, dir, nil, ctx), instance(t, dir, nil, ctx)
	warm(t, ctx, one, two)
	most := hammer(t, ctx, one, two)
	assert.Greater(t, most, int64(quota), "per-process ledgers were expected to pass the quota together")
}

func TestRedisRestartedEmptyRecountsFromTheBucket(t *testing.T) {
	srv := testenv.StartRedisServer(t)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { c.Close() })
	l, err := redisquota.New(c)
	require.NoError(t, err)
	tn, ctx := newTenant()
	dir := t.TempDir()
	one, two := instance(t, dir, l, ctx), instance(t, dir, l, ctx)
	warm(t, ctx, one, two)
	assert.LessOrEqual(t, hammer(t, ctx, one, two), int64(quota))

	srv.RestartEmpty()
	used, _ := ledgerState(t, c, tn.ID)
	require.Equal(t, blobstore.Usage{}, used, "Redis came back empty")

	// Without a recount the empty ledger would let a whole quota in.
	listed, err := one.Usage(ctx)
	require.NoError(t, err)
	_, err = two.Upload(ctx, "documents", "big.bin", bytes.NewReader(make([]byte, quota-listed.Bytes+1)), "application/octet-stream")
	require.ErrorIs(t, err, blobstore.ErrQuota, "the tenant's stored bytes were recounted")
	used, _ = ledgerState(t, c, tn.ID)
	assert.Equal(t, listed, used)

	// Redis empties again in the middle of the race.
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(20 * time.Millisecond)
		srv.RestartEmpty()
	}()
	most, after := hammerTolerant(t, ctx, done, one, two)
	<-done
	require.Positive(t, after, "uploads ran on after Redis came back empty, in the same race")
	assert.LessOrEqual(t, most, int64(quota))
	// The next upload counts again if needed; then the ledger is exact.
	_, err = one.Upload(ctx, "documents", "last.bin", strings.NewReader("x"), "application/octet-stream")
	if err != nil {
		require.ErrorIs(t, err, blobstore.ErrQuota)
	}
	listed, err = one.Usage(ctx)
	require.NoError(t, err)
	used, reserved := ledgerState(t, c, tn.ID)
	assert.Equal(t, listed, used, "the ledger is what the bucket holds")
	assert.Equal(t, blobstore.Usage{}, reserved)
}

// hammerTolerant is hammer for a Redis that goes away for a moment:
// uploads and deletes that fail on Redis are not test errors.
func hammerTolerant(t *testing.T, ctx context.Context, restarted <-chan struct{}, bs ...*blobstore.Bucket) (most, after int64) {
	var wg sync.WaitGroup
	var afterRestart atomic.Int64
	var mostSeen atomic.Int64
	for g := range 12 {
		b := bs[g%len(bs)]
		wg.Go(func() {
			var mine []string
			for i := range 12 {
				size := 300 + (g*131+i*977)%2500
				obj, err := b.Upload(ctx, "documents", "f.bin", bytes.NewReader(make([]byte, size)), "application/octet-stream")
				if err == nil {
					mine = append(mine, obj.Key)
				}
				select {
				case <-restarted:
					afterRestart.Add(1)
				default:
				}
				if i%3 == 2 && len(mine) > 0 {
					_ = bs[(g+i)%len(bs)].Delete(ctx, mine[0])
					mine = mine[1:]
				}
				if u, err := b.Usage(ctx); err == nil {
					for {
						m := mostSeen.Load()
						if u.Bytes <= m || mostSeen.CompareAndSwap(m, u.Bytes) {
							break
						}
					}
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	return mostSeen.Load(), afterRestart.Load()
}

func TestHostileTenantIDsAndReservationsAreRefusedBeforeRedis(t *testing.T) {
	srv := testenv.StartRedisServer(t)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { c.Close() })
	l, err := redisquota.New(c)
	require.NoError(t, err)
	ctx := context.Background()
	good := tenant.NewID()
	for _, id := range []string{"", "x}:s", "{" + good + "}", strings.ToUpper(good), good + ":r", good[:35] + "}", "*", good + "\x00"} {
		require.ErrorIs(t, l.Reserve(ctx, id, "ab", blobstore.Usage{Objects: 1}, blobstore.Quota{}), tenant.ErrInvalidID, "%q", id)
		_, err := l.Commit(ctx, id, "ab")
		require.ErrorIs(t, err, tenant.ErrInvalidID)
		_, err = l.Subtract(ctx, id, "e", blobstore.Usage{Objects: 1})
		require.ErrorIs(t, err, tenant.ErrInvalidID)
		_, _, err = l.BeginRecount(ctx, id)
		require.ErrorIs(t, err, tenant.ErrInvalidID)
		require.ErrorIs(t, l.Reset(ctx, id, "t", blobstore.Usage{}), tenant.ErrInvalidID)
		require.ErrorIs(t, l.Invalidate(ctx, id), tenant.ErrInvalidID)
		require.ErrorIs(t, l.Release(ctx, id, "ab"), tenant.ErrInvalidID)
		_, err = l.Epoch(ctx, id)
		require.ErrorIs(t, err, tenant.ErrInvalidID)
		_, err = l.DeleteTenant(ctx, id)
		require.ErrorIs(t, err, tenant.ErrInvalidID)
	}
	for _, res := range []string{"", "AB", "a:b", "a}", strings.Repeat("a", 65), "a b"} {
		require.ErrorIs(t, l.Reserve(ctx, good, res, blobstore.Usage{Objects: 1}, blobstore.Quota{}), redisquota.ErrInvalidReservation, "%q", res)
	}
	n, err := c.DBSize(ctx).Result()
	require.NoError(t, err)
	assert.Zero(t, n, "nothing reached Redis")

	// One tenant's reservation is not another's.
	a, b := tenant.NewID(), tenant.NewID()
	for _, id := range []string{a, b} {
		tok, counted, err := l.BeginRecount(ctx, id)
		require.NoError(t, err)
		require.False(t, counted)
		require.NoError(t, l.Reset(ctx, id, tok, blobstore.Usage{}))
	}
	require.NoError(t, l.Reserve(ctx, a, "aa", blobstore.Usage{Objects: 1, Bytes: 10}, blobstore.Quota{Bytes: 100}))
	_, err = l.Commit(ctx, b, "aa")
	require.ErrorIs(t, err, blobstore.ErrNotCounted, "b cannot commit a's reservation")
	u, err := l.Commit(ctx, a, "aa")
	require.NoError(t, err)
	assert.Equal(t, blobstore.Usage{Objects: 1, Bytes: 10}, u)
	keys, err := c.Keys(ctx, "*").Result()
	require.NoError(t, err)
	for _, k := range keys {
		assert.True(t, strings.HasPrefix(k, "tw:bq:{"+a+"}:") || strings.HasPrefix(k, "tw:bq:{"+b+"}:"), k)
	}
}

func TestAnExpiredReservationFreesTheQuota(t *testing.T) {
	c := testenv.Redis(t)
	l, err := redisquota.New(c, redisquota.WithLease(time.Second))
	require.NoError(t, err)
	ctx := context.Background()
	id := tenant.NewID()
	t.Cleanup(func() { c.Del(context.Background(), "tw:bq:{"+id+"}:s", "tw:bq:{"+id+"}:r", "tw:bq:{"+id+"}:d") })
	tok, _, err := l.BeginRecount(ctx, id)
	require.NoError(t, err)
	require.NoError(t, l.Reset(ctx, id, tok, blobstore.Usage{}))
	q := blobstore.Quota{Bytes: 100}
	require.NoError(t, l.Reserve(ctx, id, "01", blobstore.Usage{Objects: 1, Bytes: 100}, q)) // a process that crashes now
	require.ErrorIs(t, l.Reserve(ctx, id, "02", blobstore.Usage{Objects: 1}, q), blobstore.ErrQuota)
	time.Sleep(1100 * time.Millisecond)
	require.NoError(t, l.Reserve(ctx, id, "02", blobstore.Usage{Objects: 1, Bytes: 100}, q), "the crashed reservation expired")
	require.ErrorIs(t, l.Reserve(ctx, id, "01", blobstore.Usage{Bytes: 1}, q), blobstore.ErrNotCounted, "an expired reservation cannot grow")
	_, err = l.Commit(ctx, id, "01")
	require.ErrorIs(t, err, blobstore.ErrNotCounted, "nor commit: the count is dropped")
	_, err = l.Commit(ctx, id, "02")
	require.ErrorIs(t, err, blobstore.ErrNotCounted, "the count was dropped, so no commit lands on it")
}

func TestConfig(t *testing.T) {
	_, err := redisquota.New(nil)
	require.ErrorIs(t, err, redisquota.ErrConfig)
	_, err = redisquota.New(redis.NewClient(&redis.Options{}), redisquota.WithLease(0))
	require.ErrorIs(t, err, redisquota.ErrConfig)
	var _ *blob.Bucket
}

// TestACommitOrDeleteAcrossARecountDropsTheCount: a reservation made, or a
// delete begun, under one count must not adjust the next count (which may
// already include the object, or not): the count is dropped instead.
func TestACommitOrDeleteAcrossARecountDropsTheCount(t *testing.T) {
	c := testenv.Redis(t)
	l, err := redisquota.New(c)
	require.NoError(t, err)
	ctx := context.Background()
	id := tenant.NewID()
	t.Cleanup(func() { c.Del(context.Background(), "tw:bq:{"+id+"}:s", "tw:bq:{"+id+"}:r", "tw:bq:{"+id+"}:d") })
	count := func(u blobstore.Usage) {
		t.Helper()
		require.NoError(t, l.Invalidate(ctx, id))
		tok, counted, err := l.BeginRecount(ctx, id)
		require.NoError(t, err)
		require.False(t, counted)
		require.NoError(t, l.Reset(ctx, id, tok, u))
	}
	count(blobstore.Usage{})
	require.NoError(t, l.Reserve(ctx, id, "0a", blobstore.Usage{Objects: 1, Bytes: 10}, blobstore.Quota{}))
	epoch, err := l.Epoch(ctx, id)
	require.NoError(t, err)
	count(blobstore.Usage{Objects: 1, Bytes: 10}) // the recount listed the object already
	_, err = l.Commit(ctx, id, "0a")
	require.ErrorIs(t, err, blobstore.ErrNotCounted, "a commit across a recount")
	got, err := l.Epoch(ctx, id)
	require.NoError(t, err)
	assert.Empty(t, got, "the count was dropped")

	count(blobstore.Usage{Objects: 1, Bytes: 10})
	_, err = l.Subtract(ctx, id, epoch, blobstore.Usage{Objects: 1, Bytes: 10})
	require.ErrorIs(t, err, blobstore.ErrNotCounted, "a delete begun under an earlier count")
	got, err = l.Epoch(ctx, id)
	require.NoError(t, err)
	assert.Empty(t, got)

	// A recount spoiled by a delete is not installed.
	tok, _, err := l.BeginRecount(ctx, id)
	require.NoError(t, err)
	_, err = l.Subtract(ctx, id, "", blobstore.Usage{Objects: 1})
	require.ErrorIs(t, err, blobstore.ErrNotCounted)
	require.ErrorIs(t, l.Reset(ctx, id, tok, blobstore.Usage{Objects: 5}), blobstore.ErrNotCounted)
}

func TestDeleteTenantLeavesNoKeyNamingTheTenant(t *testing.T) {
	c := testenv.Redis(t)
	l, err := redisquota.New(c)
	require.NoError(t, err)
	dir := t.TempDir()
	gone, gctx := newTenant()
	kept, kctx := newTenant()
	t.Cleanup(func() { _, _ = l.DeleteTenant(context.Background(), kept.ID) })
	ctx := context.Background()
	for _, tctx := range []context.Context{gctx, kctx} {
		_, err := instance(t, dir, l, tctx).Upload(tctx, "documents", "f.bin", strings.NewReader("data"), "application/octet-stream")
		require.NoError(t, err)
	}
	// An upload in flight: its reservation is in the other two keys.
	require.NoError(t, l.Reserve(ctx, gone.ID, "0a", blobstore.Usage{Objects: 1, Bytes: 10}, blobstore.Quota{}))
	named := func(id string) []string {
		keys, err := c.Keys(ctx, "*"+id+"*").Result()
		require.NoError(t, err)
		return keys
	}
	require.Len(t, named(gone.ID), 3, "the tenant's use, reservations and their deadlines")

	n, err := l.DeleteTenant(ctx, gone.ID)
	require.NoError(t, err)
	assert.EqualValues(t, 3, n)
	assert.Empty(t, named(gone.ID), "no key names the deleted tenant")
	assert.NotEmpty(t, named(kept.ID), "the other tenant's use stays")
	n, err = l.DeleteTenant(ctx, gone.ID)
	require.NoError(t, err)
	assert.Zero(t, n, "deleting again deletes nothing")
}
