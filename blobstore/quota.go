package blobstore

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"

	"gocloud.dev/blob"
)

// Quota bounds one tenant's storage. A zero field means no bound of that
// kind.
type Quota struct {
	Bytes   int64 // total size of the tenant's objects
	Objects int64 // number of the tenant's objects
}

// QuotaFunc returns the quota of a tenant, from its plan or values stored
// for it. An error refuses the upload: a tenant whose quota is unknown does
// not store unbounded.
type QuotaFunc func(ctx context.Context, tenantID string) (Quota, error)

// Observer is told a tenant's storage use each time it changes (and when it
// is first counted), so that a metrics package (such as
// telemetry.Metrics) can report it without blobstore depending on it. The
// context is the operation's and carries the tenant. It must be safe for
// concurrent use and must not block.
type Observer interface {
	// BlobUsage reports the tenant's objects and their total size, as
	// counted after an upload or delete.
	BlobUsage(ctx context.Context, objects, bytes int64)
}

// WithQuota enforces q on every tenant's uploads (default: no quota). See
// Store for how use is counted.
func WithQuota(q QuotaFunc) Option {
	return func(o *options) error {
		if q == nil {
			return fmt.Errorf("%w: WithQuota(nil)", ErrConfig)
		}
		o.quota = q
		return nil
	}
}

// WithObserver sets who is told each tenant's storage use (default
// nobody). It turns on the same accounting as WithQuota.
func WithObserver(obs Observer) Option {
	return func(o *options) error {
		if obs == nil {
			return fmt.Errorf("%w: WithObserver(nil)", ErrConfig)
		}
		o.observer = obs
		return nil
	}
}

// accounts holds, per tenant, the mutex that serialises this process's
// deletes (Stat then Delete, exactly once) and recounts. The use itself is
// kept by the Ledger.
type accounts struct {
	mu sync.Mutex
	m  map[string]*sync.Mutex
}

func (s *Store) accounting() bool { return s.counted }

func (s *Store) deleting(id string) *sync.Mutex {
	s.accts.mu.Lock()
	defer s.accts.mu.Unlock()
	m := s.accts.m[id]
	if m == nil {
		m = &sync.Mutex{}
		s.accts.m[id] = m
	}
	return m
}

// forget drops the counts of a tenant, so that they are counted from the
// bucket again: after Migrate wrote into its prefix.
func (s *Store) forget(ctx context.Context, id string) {
	_ = s.ledger.Invalidate(context.WithoutCancel(ctx), id)
}

// recountTries bounds how often a recount spoiled by concurrent changes is
// retried before the upload fails.
const recountTries = 8

// recount lists the tenant's objects and installs them in the ledger,
// unless another process or goroutine already did.
func (b *Bucket) recount(ctx context.Context) error {
	mu := b.s.deleting(b.tenantID)
	mu.Lock()
	defer mu.Unlock()
	token, counted, err := b.s.ledger.BeginRecount(ctx, b.tenantID)
	if err != nil || counted {
		return err
	}
	u, err := b.Usage(ctx)
	if err != nil {
		return err
	}
	if err := b.s.ledger.Reset(ctx, b.tenantID, token, u); err != nil {
		return err
	}
	b.s.observe(ctx, u)
	return nil
}

// reservation is one upload's hold on its tenant's quota.
type reservation struct {
	b  *Bucket
	q  Quota
	id string
}

// reserve checks the quota before anything is stored and holds one object.
func (b *Bucket) reserve(ctx context.Context) (*reservation, error) {
	var q Quota
	if b.s.quota != nil {
		var err error
		if q, err = b.s.quota(ctx, b.tenantID); err != nil {
			return nil, fmt.Errorf("blobstore: quota of tenant %s: %w", b.tenantID, err)
		}
	}
	r := &reservation{b: b, q: q, id: randomHex()}
	for range recountTries {
		err := b.s.ledger.Reserve(ctx, b.tenantID, r.id, Usage{Objects: 1}, q)
		if !errors.Is(err, ErrNotCounted) {
			if err != nil {
				return nil, err
			}
			return r, nil
		}
		if err := b.recount(ctx); err != nil && !errors.Is(err, ErrNotCounted) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("blobstore: tenant %s: use changed during every recount: %w", b.tenantID, ErrNotCounted)
}

// grow reserves n more bytes, or refuses them if they would pass the
// quota or the reservation is gone.
func (r *reservation) grow(ctx context.Context, n int64) error {
	return r.b.s.ledger.Reserve(ctx, r.b.tenantID, r.id, Usage{Bytes: n}, r.q)
}

// done ends the reservation: stored turns it into use, otherwise it is
// released. A commit the ledger cannot place makes it recount.
func (r *reservation) done(ctx context.Context, stored bool) {
	ctx = context.WithoutCancel(ctx)
	if !stored {
		_ = r.b.s.ledger.Release(ctx, r.b.tenantID, r.id)
		return
	}
	if u, err := r.b.s.ledger.Commit(ctx, r.b.tenantID, r.id); err == nil {
		r.b.s.observe(ctx, u)
	} else if !errors.Is(err, ErrNotCounted) {
		// The ledger is unreachable: the use may be stale, so drop it.
		_ = r.b.s.ledger.Invalidate(ctx, r.b.tenantID)
	}
}

func (s *Store) observe(ctx context.Context, u Usage) {
	if s.observer != nil {
		s.observer.BlobUsage(ctx, u.Objects, u.Bytes)
	}
}

// reserveChunk is how much of an upload's body is gathered before it is
// reserved and written: one ledger call (a Redis round trip with
// redisquota) per MiB rather than per io.Copy chunk of 32 KiB.
const reserveChunk = 1 << 20

// chunkBuffers holds the gathering buffers between uploads.
var chunkBuffers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, reserveChunk) }}

// quotaWriter reserves each chunk before it is written.
type quotaWriter struct {
	ctx context.Context
	w   *blob.Writer
	r   *reservation
}

func (q quotaWriter) Write(p []byte) (int, error) {
	if err := q.r.grow(q.ctx, int64(len(p))); err != nil {
		return 0, err
	}
	return q.w.Write(p)
}

// writer is where Put copies the body: the blob writer, or when use is
// counted, a buffer in front of the reservation, so that what is reserved
// is exactly what is written, a chunk at a time. flush writes out what is
// buffered (reserving it first) and must succeed before w is closed;
// release gives the buffer back once the upload is over.
func writer(ctx context.Context, w *blob.Writer, r *reservation) (dst io.Writer, flush func() error, release func()) {
	if r == nil {
		return w, func() error { return nil }, func() {}
	}
	buf := chunkBuffers.Get().(*bufio.Writer)
	buf.Reset(quotaWriter{ctx: ctx, w: w, r: r})
	return buf, buf.Flush, func() {
		buf.Reset(nil) // keeps no reference to this upload
		chunkBuffers.Put(buf)
	}
}

// deleteCounted deletes full and takes its size off the tenant's use. The
// deletes of a tenant in this process are serialised so that two deletes of
// one object count it once; the epoch read first makes a delete that raced
// a recount drop the count instead of subtracting from the wrong one.
func (b *Bucket) deleteCounted(ctx context.Context, key, full string) error {
	mu := b.s.deleting(b.tenantID)
	mu.Lock()
	defer mu.Unlock()
	attrs, err := b.s.base.Attributes(ctx, full)
	if err != nil {
		return notFound(key, err)
	}
	epoch, err := b.s.ledger.Epoch(ctx, b.tenantID)
	if err != nil {
		return fmt.Errorf("blobstore: delete %q: %w", key, err)
	}
	if err := b.s.base.Delete(ctx, full); err != nil {
		return notFound(key, err)
	}
	u, err := b.s.ledger.Subtract(context.WithoutCancel(ctx), b.tenantID, epoch, Usage{Objects: 1, Bytes: attrs.Size})
	switch {
	case err == nil:
		b.s.observe(ctx, u)
	case !errors.Is(err, ErrNotCounted):
		_ = b.s.ledger.Invalidate(context.WithoutCancel(ctx), b.tenantID)
	}
	return nil
}

func randomHex() string {
	var r [16]byte
	rand.Read(r[:])
	return hex.EncodeToString(r[:])
}
