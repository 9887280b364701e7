package blobstore

import (
	"context"
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

// account is one tenant's storage use in this process: what stored
// objects take (used, counted from the bucket when first needed, then kept
// up to date) and what uploads in flight have reserved. used+reserved never
// exceeds the quota, so neither can what is stored.
type account struct {
	mu       sync.Mutex
	loaded   bool
	used     Usage
	reserved Usage
	deleting sync.Mutex // serialises deletes: Stat then Delete, exactly once
}

type accounts struct {
	mu sync.Mutex
	m  map[string]*account
}

func (s *Store) accounting() bool { return s.quota != nil || s.observer != nil }

func (s *Store) account(id string) *account {
	s.accts.mu.Lock()
	defer s.accts.mu.Unlock()
	a := s.accts.m[id]
	if a == nil {
		a = &account{}
		s.accts.m[id] = a
	}
	return a
}

// forget drops the counts of a tenant, so that they are counted from the
// bucket again: after Migrate wrote into its prefix.
func (s *Store) forget(id string) {
	s.accts.mu.Lock()
	defer s.accts.mu.Unlock()
	delete(s.accts.m, id)
}

// load counts the tenant's objects from the bucket, once. Deletes wait
// meanwhile, so that none is both listed and subtracted or neither; no
// upload of this process is in flight, since none reserves before the
// count exists.
func (a *account) load(ctx context.Context, b *Bucket) error {
	a.mu.Lock()
	loaded := a.loaded
	a.mu.Unlock()
	if loaded {
		return nil
	}
	a.deleting.Lock()
	defer a.deleting.Unlock()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.loaded {
		return nil
	}
	u, err := b.Usage(ctx)
	if err != nil {
		return err
	}
	a.used, a.loaded = u, true
	b.s.observe(ctx, u)
	return nil
}

// reservation is one upload's hold on its tenant's quota.
type reservation struct {
	b     *Bucket
	a     *account
	q     Quota
	bytes int64
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
	a := b.s.account(b.tenantID)
	if err := a.load(ctx, b); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if q.Objects > 0 && a.used.Objects+a.reserved.Objects+1 > q.Objects {
		return nil, fmt.Errorf("%w: %d of %d objects stored", ErrQuota, a.used.Objects, q.Objects)
	}
	if q.Bytes > 0 && a.used.Bytes+a.reserved.Bytes >= q.Bytes {
		return nil, fmt.Errorf("%w: %d of %d bytes stored", ErrQuota, a.used.Bytes, q.Bytes)
	}
	a.reserved.Objects++
	return &reservation{b: b, a: a, q: q}, nil
}

// grow reserves n more bytes, or refuses them if they would pass the
// quota.
func (r *reservation) grow(n int64) error {
	r.a.mu.Lock()
	defer r.a.mu.Unlock()
	if r.q.Bytes > 0 && r.a.used.Bytes+r.a.reserved.Bytes+n > r.q.Bytes {
		return fmt.Errorf("%w: the upload would pass %d bytes", ErrQuota, r.q.Bytes)
	}
	r.a.reserved.Bytes += n
	r.bytes += n
	return nil
}

// done ends the reservation: stored turns it into use, otherwise it is
// released.
func (r *reservation) done(ctx context.Context, stored bool) {
	r.a.mu.Lock()
	r.a.reserved.Objects--
	r.a.reserved.Bytes -= r.bytes
	if stored {
		r.a.used.Objects++
		r.a.used.Bytes += r.bytes
	}
	u := r.a.used
	r.a.mu.Unlock()
	if stored {
		r.b.s.observe(ctx, u)
	}
}

func (s *Store) observe(ctx context.Context, u Usage) {
	if s.observer != nil {
		s.observer.BlobUsage(ctx, u.Objects, u.Bytes)
	}
}

// quotaWriter reserves each chunk before it is written.
type quotaWriter struct {
	w *blob.Writer
	r *reservation
}

func (q quotaWriter) Write(p []byte) (int, error) {
	if err := q.r.grow(int64(len(p))); err != nil {
		return 0, err
	}
	return q.w.Write(p)
}

// writer is where Put copies the body: the blob writer, through the
// reservation when use is counted.
func writer(w *blob.Writer, r *reservation) io.Writer {
	if r == nil {
		return w
	}
	return quotaWriter{w: w, r: r}
}

// deleteCounted deletes full and takes its size off the tenant's use. The
// deletes of a tenant are serialised so that two deletes of one object
// count it once.
func (b *Bucket) deleteCounted(ctx context.Context, key, full string) error {
	a := b.s.account(b.tenantID)
	a.deleting.Lock()
	defer a.deleting.Unlock()
	attrs, err := b.s.base.Attributes(ctx, full)
	if err != nil {
		return notFound(key, err)
	}
	if err := b.s.base.Delete(ctx, full); err != nil {
		return notFound(key, err)
	}
	a.mu.Lock()
	var u Usage
	counted := a.loaded
	if counted {
		a.used.Objects--
		a.used.Bytes -= attrs.Size
		u = a.used
	}
	a.mu.Unlock()
	if counted {
		b.s.observe(ctx, u)
	}
	return nil
}
