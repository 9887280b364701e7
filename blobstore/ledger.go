package blobstore

import (
	"context"
	"fmt"
	"sync"
)

// Ledger keeps the tenants' storage use where every Store sharing a bucket
// sees it: what stored objects take (counted from the bucket, then kept up
// to date) and what uploads in flight have reserved. The default is an
// in-memory ledger, exact within one process; blobstore/redisquota keeps
// one in Redis for several processes. Each method is atomic for its
// tenant. Implementations must be safe for concurrent use.
//
// A ledger that holds no count for a tenant (never counted, invalidated,
// or lost) answers ErrNotCounted and the Store recounts from the bucket:
// BeginRecount, list, then Reset with the token, which fails with
// ErrNotCounted if any commit, delete or invalidation of the tenant came
// in between, so a listing that may have missed a change is never
// installed.
type Ledger interface {
	// Reserve holds n against q for the reservation id: with
	// n.Objects == 1 it opens the reservation, refused with ErrQuota if
	// the tenant's use plus reservations is already at q.Bytes or would
	// pass q.Objects; with n.Objects == 0 it grows an open one by n.Bytes,
	// refused with ErrQuota if that would pass q.Bytes, and with
	// ErrNotCounted if the reservation is gone (expired or lost). A zero
	// Quota field bounds nothing.
	Reserve(ctx context.Context, tenantID, id string, n Usage, q Quota) error
	// Commit turns the reservation into use and returns the use. If the
	// reservation is gone or was made against an earlier count, the
	// tenant's count is dropped (it must be recounted) and ErrNotCounted
	// returned.
	Commit(ctx context.Context, tenantID, id string) (Usage, error)
	// Release drops the reservation; a gone one is no error.
	Release(ctx context.Context, tenantID, id string) error
	// Epoch names the tenant's current count; "" if there is none. A
	// delete reads it before deleting from the bucket.
	Epoch(ctx context.Context, tenantID string) (string, error)
	// Subtract takes n off the use counted in epoch and returns the use.
	// If the count is no longer that epoch's, it is dropped (or a recount
	// in progress spoiled) and ErrNotCounted returned.
	Subtract(ctx context.Context, tenantID, epoch string, n Usage) (Usage, error)
	// BeginRecount starts a recount and returns its token, or
	// counted == true if the tenant has a count.
	BeginRecount(ctx context.Context, tenantID string) (token string, counted bool, err error)
	// Reset installs u, listed from the bucket after BeginRecount, as the
	// tenant's use, unless the recount was spoiled (ErrNotCounted) or
	// another recount already installed one (no error).
	Reset(ctx context.Context, tenantID, token string, u Usage) error
	// Invalidate drops the tenant's count, so that it is recounted.
	Invalidate(ctx context.Context, tenantID string) error
}

// WithLedger sets where use is kept (default: in this process's memory).
// It turns on the same accounting as WithQuota.
func WithLedger(l Ledger) Option {
	return func(o *options) error {
		if l == nil {
			return fmt.Errorf("%w: WithLedger(nil)", ErrConfig)
		}
		o.ledger = l
		return nil
	}
}

// memLedger is the default Ledger: exact within one process.
type memLedger struct {
	mu sync.Mutex
	m  map[string]*memAccount
}

type memAccount struct {
	counted  bool
	epoch    string
	token    string
	used     Usage
	reserved Usage
	res      map[string]memRes
}

type memRes struct {
	epoch string
	n     Usage
}

func newMemLedger() *memLedger { return &memLedger{m: map[string]*memAccount{}} }

func (l *memLedger) acct(id string) *memAccount {
	a := l.m[id]
	if a == nil {
		a = &memAccount{res: map[string]memRes{}}
		l.m[id] = a
	}
	return a
}

func (l *memLedger) Reserve(_ context.Context, tenantID, id string, n Usage, q Quota) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.acct(tenantID)
	if !a.counted {
		return ErrNotCounted
	}
	r, open := a.res[id]
	if n.Objects == 0 && !open {
		return fmt.Errorf("%w: reservation gone", ErrNotCounted)
	}
	if err := q.check(a.used, a.reserved, n); err != nil {
		return err
	}
	if !open {
		r.epoch = a.epoch
	}
	r.n.Objects += n.Objects
	r.n.Bytes += n.Bytes
	a.res[id] = r
	a.reserved.Objects += n.Objects
	a.reserved.Bytes += n.Bytes
	return nil
}

// check refuses n if it would take used plus reserved past q.
func (q Quota) check(used, reserved Usage, n Usage) error {
	if n.Objects > 0 {
		if q.Objects > 0 && used.Objects+reserved.Objects+n.Objects > q.Objects {
			return fmt.Errorf("%w: %d of %d objects stored", ErrQuota, used.Objects, q.Objects)
		}
		if q.Bytes > 0 && used.Bytes+reserved.Bytes >= q.Bytes {
			return fmt.Errorf("%w: %d of %d bytes stored", ErrQuota, used.Bytes, q.Bytes)
		}
	}
	if q.Bytes > 0 && used.Bytes+reserved.Bytes+n.Bytes > q.Bytes {
		return fmt.Errorf("%w: the upload would pass %d bytes", ErrQuota, q.Bytes)
	}
	return nil
}

func (a *memAccount) drop(id string) (memRes, bool) {
	r, ok := a.res[id]
	if ok {
		delete(a.res, id)
		a.reserved.Objects -= r.n.Objects
		a.reserved.Bytes -= r.n.Bytes
	}
	return r, ok
}

func (a *memAccount) invalidate() { a.counted, a.epoch, a.token = false, "", "" }

func (l *memLedger) Commit(_ context.Context, tenantID, id string) (Usage, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.acct(tenantID)
	r, ok := a.drop(id)
	if !ok || !a.counted || r.epoch != a.epoch {
		a.invalidate()
		return Usage{}, ErrNotCounted
	}
	a.used.Objects += r.n.Objects
	a.used.Bytes += r.n.Bytes
	return a.used, nil
}

func (l *memLedger) Release(_ context.Context, tenantID, id string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.acct(tenantID).drop(id)
	return nil
}

func (l *memLedger) Epoch(_ context.Context, tenantID string) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.acct(tenantID).epoch, nil
}

func (l *memLedger) Subtract(_ context.Context, tenantID, epoch string, n Usage) (Usage, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.acct(tenantID)
	if !a.counted || epoch == "" || a.epoch != epoch {
		a.invalidate()
		return Usage{}, ErrNotCounted
	}
	a.used.Objects -= n.Objects
	a.used.Bytes -= n.Bytes
	return a.used, nil
}

func (l *memLedger) BeginRecount(_ context.Context, tenantID string) (string, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.acct(tenantID)
	if a.counted {
		return "", true, nil
	}
	a.token = randomHex()
	return a.token, false, nil
}

func (l *memLedger) Reset(_ context.Context, tenantID, token string, u Usage) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.acct(tenantID)
	if a.counted {
		return nil
	}
	if token == "" || a.token != token {
		return ErrNotCounted
	}
	a.counted, a.epoch, a.token, a.used = true, token, "", u
	return nil
}

func (l *memLedger) Invalidate(_ context.Context, tenantID string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.acct(tenantID).invalidate()
	return nil
}
