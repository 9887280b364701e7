package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tenantwall/tenantwall/internal/redisnodes"
)

// RedisStore keeps sessions in Redis (single node, Sentinel, Cluster or
// Ring). A record is one JSON value at "<prefix>:s:<hash>", so loading a
// session is one round trip; per-user and per-tenant sets of hashes make
// DeleteUser and DeleteTenant possible without scanning for sessions. The
// sets are hash-tagged by tenant, so on a cluster a tenant's index lives
// in one slot, and DeleteTenant looks for its users' sets on that node
// only; on a Ring it looks on every shard (see unindexUsers). On a Ring, a
// record written while its shard was out of the Ring keeps a copy on the
// shard that stood in for it, which a later delete does not reach: should
// that shard drop out again, the copy is served until its TTL. Safe for
// concurrent use; it does not close the client.
type RedisStore struct {
	client redis.UniversalClient
	prefix string
}

var _ Store = (*RedisStore)(nil)

// NewRedisStore returns a RedisStore with keys under prefix (default
// "twsess").
func NewRedisStore(client redis.UniversalClient, prefix string) (*RedisStore, error) {
	if client == nil {
		return nil, fmt.Errorf("%w: nil client", ErrConfig)
	}
	if prefix == "" {
		prefix = "twsess"
	}
	for i := 0; i < len(prefix); i++ {
		if c := prefix[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return nil, fmt.Errorf("%w: prefix %q", ErrConfig, prefix)
		}
	}
	return &RedisStore{client: client, prefix: prefix}, nil
}

func (s *RedisStore) recKey(hash string) string { return s.prefix + ":s:" + hash }
func (s *RedisStore) userKey(tenantID, userID string) string {
	return s.prefix + ":{" + tenantID + "}:u:" + userID
}
func (s *RedisStore) tenantKey(tenantID string) string { return s.prefix + ":{" + tenantID + "}:t" }

// Find implements Store.
func (s *RedisStore) Find(ctx context.Context, hash string) (Record, bool, error) {
	data, err := s.client.Get(ctx, s.recKey(hash)).Bytes()
	if errors.Is(err, redis.Nil) {
		return Record{}, false, nil
	}
	if err != nil {
		return Record{}, false, fmt.Errorf("session: redis find: %w", err)
	}
	var r Record
	if err := json.Unmarshal(data, &r); err != nil {
		// A record we cannot read is no session.
		return Record{}, false, nil
	}
	return r, true, nil
}

// Create implements Store. The hash enters the user's and the tenant's
// index sets before its record is written (SET NX), so that a record
// DeleteUser or DeleteTenant cannot find never exists.
func (s *RedisStore) Create(ctx context.Context, hash string, rec Record, ttl time.Duration) error {
	if ttl <= 0 {
		// Redis would keep a key written without a TTL for ever.
		return fmt.Errorf("%w: session ttl %v", ErrConfig, ttl)
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("session: encode: %w", err)
	}
	uk, tk := s.userKey(rec.TenantID, rec.UserID), s.tenantKey(rec.TenantID)
	_, err = s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.SAdd(ctx, uk, hash)
		p.SAdd(ctx, tk, hash)
		s.extendIndex(ctx, p, uk, tk, ttl)
		return nil
	})
	if err != nil {
		return fmt.Errorf("session: redis index: %w", err)
	}
	err = s.client.SetArgs(ctx, s.recKey(hash), data, redis.SetArgs{Mode: "NX", TTL: ttl}).Err()
	if errors.Is(err, redis.Nil) {
		return fmt.Errorf("%w: %.8s…", ErrHashInUse, hash)
	}
	if err != nil {
		return fmt.Errorf("session: redis create: %w", err)
	}
	return nil
}

// Update implements Store: SET XX writes only over a live record, in the
// same atomic step as the check.
func (s *RedisStore) Update(ctx context.Context, hash string, rec Record, ttl time.Duration) (bool, error) {
	if ttl <= 0 {
		// A record with no time left is over; writing it without a TTL
		// would keep it for ever.
		return false, s.Delete(ctx, hash)
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return false, fmt.Errorf("session: encode: %w", err)
	}
	var set *redis.StatusCmd
	_, err = s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		set = p.SetArgs(ctx, s.recKey(hash), data, redis.SetArgs{Mode: "XX", TTL: ttl})
		s.extendIndex(ctx, p, s.userKey(rec.TenantID, rec.UserID), s.tenantKey(rec.TenantID), ttl)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return false, fmt.Errorf("session: redis update: %w", err)
	}
	switch err := set.Err(); {
	case errors.Is(err, redis.Nil):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("session: redis update: %w", err)
	}
	return true, nil
}

// extendIndex makes the index sets outlive the record just written by an
// hour. NX gives a new set its first expiry and GT only ever lengthens it,
// so a short-lived session cannot make the index forget a longer one.
func (s *RedisStore) extendIndex(ctx context.Context, p redis.Pipeliner, uk, tk string, ttl time.Duration) {
	for _, k := range []string{uk, tk} {
		p.ExpireNX(ctx, k, ttl+time.Hour)
		p.ExpireGT(ctx, k, ttl+time.Hour)
	}
}

// Delete implements Store. On a Ring with a shard out (taken out of its
// hashing until it answers again), Delete, DeleteUser and DeleteTenant
// fail rather than delete on the shard that stands in for it: the
// session would come back with the shard.
func (s *RedisStore) Delete(ctx context.Context, hash string) error {
	if err := redisnodes.Whole(s.client); err != nil {
		return fmt.Errorf("session: redis delete: %w", err)
	}
	if err := s.client.Del(ctx, s.recKey(hash)).Err(); err != nil {
		return fmt.Errorf("session: redis delete: %w", err)
	}
	return nil
}

// DeleteUser implements Store.
func (s *RedisStore) DeleteUser(ctx context.Context, tenantID, userID string) error {
	if err := redisnodes.Whole(s.client); err != nil {
		return fmt.Errorf("session: redis delete user: %w", err)
	}
	_, err := s.deleteSet(ctx, s.userKey(tenantID, userID), tenantID, userID)
	return err
}

// DeleteTenant implements Store. Besides the sessions and the tenant's
// index set, it takes the same hashes out of the tenant's per-user index
// sets, so that no key of the tenant is left behind: tenant deletion
// verifies that none is. The user index sets are found by SCAN on the one
// node that holds the tenant's hash tag (see unindexUsers). A client of a
// type other than *redis.Client, *redis.ClusterClient and *redis.Ring (a
// wrapper, go-redis's AutoPipeliner), for which that node cannot be
// known, is refused with ErrConfig before anything is deleted.
func (s *RedisStore) DeleteTenant(ctx context.Context, tenantID string) error {
	if err := redisnodes.Check(s.client); err != nil {
		return fmt.Errorf("%w: delete tenant: %w", ErrConfig, err)
	}
	if err := redisnodes.Whole(s.client); err != nil {
		return fmt.Errorf("session: redis delete tenant: %w", err)
	}
	hashes, err := s.deleteSet(ctx, s.tenantKey(tenantID), tenantID, "")
	if err != nil || len(hashes) == 0 {
		return err
	}
	if err := s.unindexUsers(ctx, tenantID, hashes); err != nil {
		return fmt.Errorf("session: redis user index: %w", err)
	}
	return nil
}

// unindexUsers takes hashes out of every index set of the tenant's users.
// Those sets share the tenant's hash tag with its index set, so on a
// Redis Cluster they all live on the master of its slot, and SCAN goes to
// that node only (scanning every master cost a pass over the whole
// keyspace for one slot's keys). Should the slot move while it is
// scanned, or have moved unseen by the client (checked on the node
// afterwards, see slotServedBy), every master is scanned as well, so that
// a set already moved is not missed. On a Ring every shard is scanned: a
// set written while the tenant's shard was out of the Ring is on the
// shard that stood in for it, and is changed there.
func (s *RedisStore) unindexUsers(ctx context.Context, tenantID string, hashes []string) error {
	pattern := globEscaper.Replace(s.prefix+":{"+tenantID+"}:u:") + "*"
	_, ring := s.client.(*redis.Ring)
	scan := func(ctx context.Context, c *redis.Client) error {
		var cursor uint64
		for {
			keys, next, err := c.Scan(ctx, cursor, pattern, 500).Result()
			if err != nil {
				return err
			}
			// The sets are changed through the store's client, which
			// follows a slot that moves meanwhile (MOVED, ASK); on a
			// Ring through the shard that holds them, whatever the
			// Ring's hashing says now.
			var via redis.Cmdable = s.client
			if ring {
				via = c
			}
			for _, k := range keys {
				if err := via.SRem(ctx, k, hashes).Err(); err != nil {
					return err
				}
			}
			if next == 0 {
				return nil
			}
			cursor = next
		}
	}
	tk := s.tenantKey(tenantID)
	if c, ok := s.client.(*redis.ClusterClient); ok {
		node, err := c.MasterForKey(ctx, tk)
		if err != nil {
			return err
		}
		if err := scan(ctx, node); err != nil {
			return err
		}
		if slotServedBy(ctx, node, tk) {
			return nil
		}
	}
	// One server (or Sentinel's primary), where every key is; every shard
	// of a Ring; or every master of a cluster whose slot moved. Any other
	// type is refused.
	return redisnodes.ForEach(ctx, s.client, scan)
}

// slotServedBy reports whether node, a cluster master, serves the slot of
// key without a migration of it under way, by its own CLUSTER NODES line:
// then every key of the slot is on node. Anything else — another owner,
// the slot migrating or importing, an error, an answer it does not
// understand — is false.
func slotServedBy(ctx context.Context, node *redis.Client, key string) bool {
	var slot *redis.IntCmd
	var nodes *redis.StringCmd
	if _, err := node.Pipelined(ctx, func(p redis.Pipeliner) error {
		slot = p.ClusterKeySlot(ctx, key)
		nodes = p.ClusterNodes(ctx)
		return nil
	}); err != nil {
		return false
	}
	return servesSlot(nodes.Val(), slot.Val())
}

// servesSlot reads the "myself" line of a CLUSTER NODES answer: the node
// is a master whose slot ranges hold slot, and no migration of slot
// ("[slot->-node]" or "[slot-<-node]") is listed.
func servesSlot(nodes string, slot int64) bool {
	for line := range strings.Lines(nodes) {
		f := strings.Fields(line)
		if len(f) < 8 || !slices.Contains(strings.Split(f[2], ","), "myself") {
			continue
		}
		if !slices.Contains(strings.Split(f[2], ","), "master") {
			return false
		}
		served := false
		for _, r := range f[8:] {
			if m, ok := strings.CutPrefix(r, "["); ok {
				n, _, ok := strings.Cut(m, "-")
				if v, err := strconv.ParseInt(n, 10, 64); !ok || err != nil || v == slot {
					return false
				}
				continue
			}
			lo, hi, isRange := strings.Cut(r, "-")
			if !isRange {
				hi = lo
			}
			a, err1 := strconv.ParseInt(lo, 10, 64)
			b, err2 := strconv.ParseInt(hi, 10, 64)
			if err1 != nil || err2 != nil {
				return false
			}
			served = served || a <= slot && slot <= b
		}
		return served
	}
	return false
}

// globEscaper escapes what a SCAN MATCH pattern would take as a wildcard.
var globEscaper = strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`, `]`, `\]`)

// deleteSet deletes the sessions listed in an index set, checking each
// record's owner so that a stale index can never delete another tenant's
// session.
func (s *RedisStore) deleteSet(ctx context.Context, set, tenantID, userID string) ([]string, error) {
	hashes, err := s.client.SMembers(ctx, set).Result()
	if err != nil {
		return nil, fmt.Errorf("session: redis index: %w", err)
	}
	for _, h := range hashes {
		r, found, err := s.Find(ctx, h)
		if err != nil {
			return nil, err
		}
		if found && r.TenantID == tenantID && (userID == "" || r.UserID == userID) {
			if err := s.Delete(ctx, h); err != nil {
				return nil, err
			}
		}
	}
	if len(hashes) == 0 {
		return nil, nil
	}
	// Only the members read above leave the index: a session created
	// meanwhile (a login racing the destroy) stays indexed, so the next
	// DestroyUser or DestroyTenant still ends it. DEL of the whole set
	// would orphan it for good.
	return hashes, s.client.SRem(ctx, set, hashes).Err()
}
