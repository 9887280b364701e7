package session

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"time"
)

// Record is what a store keeps for one session. The token itself is never
// stored: records are keyed by the hex SHA-256 of the token.
type Record struct {
	TenantID string            `json:"tenant_id"`        // the tenant the session belongs to
	UserID   string            `json:"user_id"`          // the signed-in user
	Values   map[string]string `json:"values,omitempty"` // what Manager.Set stored
	Created  time.Time         `json:"created"`          // sign-in time
	LastSeen time.Time         `json:"last_seen"`        // last use, for the idle timeout
	Deadline time.Time         `json:"deadline"`         // absolute expiry
}

// Store keeps session records by token hash. Implementations must be safe
// for concurrent use; run sessiontest.RunStoreTests against yours.
//
// Writes are split so that a token, once deleted, can never be written
// again: Create writes only a hash that is not in use (the hash of a fresh
// random token), Update writes only a hash that holds a live record. A
// request that read a session before another request rotated, logged out
// or destroyed it therefore cannot bring the old token back by writing.
type Store interface {
	// Find returns the live record under hash. It returns found=false,
	// err=nil for a missing, expired or unreadable record, and errors only
	// for system failures.
	Find(ctx context.Context, hash string) (rec Record, found bool, err error)
	// Create stores rec under hash until ttl passes. When a live record
	// already has that hash it writes nothing and returns an error
	// wrapping ErrHashInUse. A ttl of zero or less never makes a record
	// that outlives it (it may be refused).
	Create(ctx context.Context, hash string, rec Record, ttl time.Duration) error
	// Update replaces the live record under hash with rec, for ttl from
	// now, and returns found=true. When there is no live record (never
	// created, deleted or expired) it writes nothing and returns
	// found=false, err=nil. The check and the write are one atomic step.
	// A ttl of zero or less ends the record.
	Update(ctx context.Context, hash string, rec Record, ttl time.Duration) (found bool, err error)
	// Delete removes the record under hash; deleting a missing one is not
	// an error.
	Delete(ctx context.Context, hash string) error
	// DeleteUser removes every session of a user of a tenant.
	DeleteUser(ctx context.Context, tenantID, userID string) error
	// DeleteTenant removes every session of a tenant.
	DeleteTenant(ctx context.Context, tenantID string) error
}

// hashToken returns the store key of a token: hex SHA-256. Stores only
// ever see hashes, so a leaked store never yields a usable cookie.
func hashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// MemStore is an in-memory Store for a single process, safe for
// concurrent use. Expired records are dropped when found and by Sweep.
type MemStore struct {
	mu   sync.Mutex
	recs map[string]memRec
	now  func() time.Time
}

type memRec struct {
	rec     Record
	expires time.Time
}

var _ Store = (*MemStore)(nil)

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore { return &MemStore{recs: map[string]memRec{}, now: time.Now} }

// Find implements Store.
func (s *MemStore) Find(_ context.Context, hash string) (Record, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.live(hash)
	if !ok {
		return Record{}, false, nil
	}
	return copyRecord(r.rec), true, nil
}

// live returns the unexpired record under hash; s.mu must be held.
func (s *MemStore) live(hash string) (memRec, bool) {
	r, ok := s.recs[hash]
	if ok && !s.now().Before(r.expires) {
		delete(s.recs, hash)
		return memRec{}, false
	}
	return r, ok
}

// Create implements Store.
func (s *MemStore) Create(_ context.Context, hash string, rec Record, ttl time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.live(hash); ok {
		return fmt.Errorf("%w: %.8s…", ErrHashInUse, hash)
	}
	s.recs[hash] = memRec{rec: copyRecord(rec), expires: s.now().Add(ttl)}
	return nil
}

// Update implements Store.
func (s *MemStore) Update(_ context.Context, hash string, rec Record, ttl time.Duration) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.live(hash); !ok {
		return false, nil
	}
	s.recs[hash] = memRec{rec: copyRecord(rec), expires: s.now().Add(ttl)}
	return true, nil
}

// Delete implements Store.
func (s *MemStore) Delete(_ context.Context, hash string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.recs, hash)
	return nil
}

// DeleteUser implements Store.
func (s *MemStore) DeleteUser(_ context.Context, tenantID, userID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for h, r := range s.recs {
		if r.rec.TenantID == tenantID && r.rec.UserID == userID {
			delete(s.recs, h)
		}
	}
	return nil
}

// DeleteTenant implements Store.
func (s *MemStore) DeleteTenant(_ context.Context, tenantID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for h, r := range s.recs {
		if r.rec.TenantID == tenantID {
			delete(s.recs, h)
		}
	}
	return nil
}

// Sweep drops expired records; call it periodically in long-lived
// processes.
func (s *MemStore) Sweep() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for h, r := range s.recs {
		if !now.Before(r.expires) {
			delete(s.recs, h)
		}
	}
}

func copyRecord(r Record) Record {
	if r.Values != nil {
		v := make(map[string]string, len(r.Values))
		for k, x := range r.Values {
			v[k] = x
		}
		r.Values = v
	}
	return r
}
