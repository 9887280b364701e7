package redisquota

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tenantwall/tenantwall/blobstore"
	"github.com/tenantwall/tenantwall/tenant"
)

// DefaultLease is how long a reservation holds quota after its upload last
// wrote a chunk (see WithLease).
const DefaultLease = 5 * time.Minute

// keyPrefix starts every key. A tenant's ledger is three keys,
//
//	tw:bq:{<tenant ID>}:s   hash: use (o, b), reserved (ro, rb), epoch, recount token
//	tw:bq:{<tenant ID>}:r   hash: per reservation its objects, bytes and epoch
//	tw:bq:{<tenant ID>}:d   sorted set: reservations by lease deadline
//
// The tenant ID is checked to be a canonical UUID (no '{', '}' or ':'), so
// a key names exactly one tenant, and the hash tag puts the three keys of a
// tenant in one Redis Cluster slot, as one script per call needs.
const keyPrefix = "tw:bq:{"

// Ledger is a blobstore.Ledger in Redis, shared by every Store (every
// process) that uses the same Redis: one Lua script per operation, so
// reserving against the quota is atomic across processes. Reservations
// expire a lease after their last chunk (the server's clock), so those of
// a crashed process do not hold quota for ever. If Redis loses the data,
// the tenant's count is gone and the next upload recounts from the
// bucket; reservations lost with it make their uploads fail at the next
// chunk, or their commit drop the count again. Safe for concurrent use; it
// does not close the client.
type Ledger struct {
	c       redis.UniversalClient
	leaseMS int64
}

var _ blobstore.Ledger = (*Ledger)(nil)

// Option configures a Ledger.
type Option func(*options) error

type options struct {
	lease time.Duration
}

// WithLease sets how long a reservation outlives its upload's last chunk
// (default DefaultLease): at least one second.
func WithLease(d time.Duration) Option {
	return func(o *options) error {
		if d < time.Second {
			return fmt.Errorf("%w: WithLease(%v): under a second", ErrConfig, d)
		}
		o.lease = d
		return nil
	}
}

// New returns a Ledger on c.
func New(c redis.UniversalClient, opts ...Option) (*Ledger, error) {
	if c == nil {
		return nil, fmt.Errorf("%w: nil Redis client", ErrConfig)
	}
	o := options{lease: DefaultLease}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	return &Ledger{c: c, leaseMS: o.lease.Milliseconds()}, nil
}

// keys returns the tenant's keys, or tenant.ErrInvalidID.
func keys(tenantID string) ([]string, error) {
	if err := tenant.ValidateID(tenantID); err != nil {
		return nil, err
	}
	p := keyPrefix + tenantID + "}:"
	return []string{p + "s", p + "r", p + "d"}, nil
}

func checkReservation(id string) error {
	if id == "" || len(id) > 64 {
		return fmt.Errorf("%w: %d bytes", ErrInvalidReservation, len(id))
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return fmt.Errorf("%w: byte %d", ErrInvalidReservation, i)
		}
	}
	return nil
}

// run runs a script and returns its reply as integers.
func (l *Ledger) run(ctx context.Context, s *redis.Script, keys []string, args ...any) ([]int64, error) {
	v, err := s.Run(ctx, l.c, keys, args...).Int64Slice()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRedis, err)
	}
	return v, nil
}

// Reserve implements blobstore.Ledger.
func (l *Ledger) Reserve(ctx context.Context, tenantID, id string, n blobstore.Usage, q blobstore.Quota) error {
	k, err := keys(tenantID)
	if err != nil {
		return err
	}
	if err := checkReservation(id); err != nil {
		return err
	}
	if n.Objects < 0 || n.Objects > 1 || n.Bytes < 0 || q.Objects < 0 || q.Bytes < 0 {
		return fmt.Errorf("%w: reserve %+v against %+v", ErrConfig, n, q)
	}
	v, err := l.run(ctx, reserveScript, k, id, n.Objects, n.Bytes, q.Objects, q.Bytes, l.leaseMS)
	if err != nil {
		return err
	}
	switch v[0] {
	case 1:
		return nil
	case -1:
		return blobstore.ErrNotCounted
	case -2:
		return fmt.Errorf("%w: reservation gone (lease expired or Redis lost it)", blobstore.ErrNotCounted)
	case -3:
		return fmt.Errorf("%w: %d of %d objects stored", blobstore.ErrQuota, v[1], q.Objects)
	default:
		return fmt.Errorf("%w: %d bytes stored, the upload would pass %d", blobstore.ErrQuota, v[2], q.Bytes)
	}
}

// usage reads a {code, objects, bytes} reply.
func usage(v []int64) (blobstore.Usage, error) {
	if v[0] != 1 {
		return blobstore.Usage{}, blobstore.ErrNotCounted
	}
	return blobstore.Usage{Objects: v[1], Bytes: v[2]}, nil
}

// Commit implements blobstore.Ledger.
func (l *Ledger) Commit(ctx context.Context, tenantID, id string) (blobstore.Usage, error) {
	k, err := keys(tenantID)
	if err != nil {
		return blobstore.Usage{}, err
	}
	if err := checkReservation(id); err != nil {
		return blobstore.Usage{}, err
	}
	v, err := l.run(ctx, commitScript, k, id)
	if err != nil {
		return blobstore.Usage{}, err
	}
	return usage(v)
}

// Release implements blobstore.Ledger.
func (l *Ledger) Release(ctx context.Context, tenantID, id string) error {
	k, err := keys(tenantID)
	if err != nil {
		return err
	}
	if err := checkReservation(id); err != nil {
		return err
	}
	_, err = l.run(ctx, releaseScript, k, id)
	return err
}

// Epoch implements blobstore.Ledger.
func (l *Ledger) Epoch(ctx context.Context, tenantID string) (string, error) {
	k, err := keys(tenantID)
	if err != nil {
		return "", err
	}
	e, err := l.c.HGet(ctx, k[0], "ep").Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrRedis, err)
	}
	return e, nil
}

// Subtract implements blobstore.Ledger.
func (l *Ledger) Subtract(ctx context.Context, tenantID, epoch string, n blobstore.Usage) (blobstore.Usage, error) {
	k, err := keys(tenantID)
	if err != nil {
		return blobstore.Usage{}, err
	}
	v, err := l.run(ctx, subtractScript, k[:1], epoch, n.Objects, n.Bytes)
	if err != nil {
		return blobstore.Usage{}, err
	}
	return usage(v)
}

// BeginRecount implements blobstore.Ledger.
func (l *Ledger) BeginRecount(ctx context.Context, tenantID string) (string, bool, error) {
	k, err := keys(tenantID)
	if err != nil {
		return "", false, err
	}
	token := tenant.NewID()
	v, err := l.run(ctx, beginScript, k[:1], token)
	if err != nil {
		return "", false, err
	}
	if v[0] == 0 {
		return "", true, nil
	}
	return token, false, nil
}

// Reset implements blobstore.Ledger.
func (l *Ledger) Reset(ctx context.Context, tenantID, token string, u blobstore.Usage) error {
	k, err := keys(tenantID)
	if err != nil {
		return err
	}
	if token == "" {
		return blobstore.ErrNotCounted
	}
	v, err := l.run(ctx, resetScript, k[:1], token, u.Objects, u.Bytes)
	if err != nil {
		return err
	}
	if v[0] < 0 {
		return fmt.Errorf("%w: the use changed during the recount", blobstore.ErrNotCounted)
	}
	return nil
}

// Invalidate implements blobstore.Ledger.
func (l *Ledger) Invalidate(ctx context.Context, tenantID string) error {
	k, err := keys(tenantID)
	if err != nil {
		return err
	}
	if err := l.c.HDel(ctx, k[0], "o", "b", "ep", "tok").Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrRedis, err)
	}
	return nil
}

// DeleteTenant deletes the tenant's ledger keys (its use, its
// reservations), for tenant deletion, and returns how many it deleted:
// they have no TTL, and would otherwise name the tenant for ever. It is
// one UNLINK (the keys share a hash slot). Delete the tenant's objects
// first: an upload or delete of the tenant after this recounts from the
// bucket and writes the keys again.
func (l *Ledger) DeleteTenant(ctx context.Context, tenantID string) (int64, error) {
	k, err := keys(tenantID)
	if err != nil {
		return 0, err
	}
	n, err := l.c.Unlink(ctx, k...).Result()
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrRedis, err)
	}
	return n, nil
}
