package credentials

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/tenantwall/tenantwall/tenant"
)

// Row is one stored credential version. Only ciphertext is stored: the
// Vault seals the value with its tenant, provider and version and stores
// the result as base64 text.
type Row struct {
	// TenantID, Provider and Version name the row; a store matches
	// them by equality and writes each (TenantID, Provider, Version) once.
	TenantID string
	Provider string
	Version  int
	// Ciphertext is opaque to a store and kept byte for byte. It is
	// printable ASCII without spaces (the Vault's base64), so a store
	// may keep it in a text column of any engine.
	Ciphertext []byte
	// CreatedAt is kept to at least the millisecond.
	CreatedAt time.Time
}

// Validate reports whether r may be stored: a canonical tenant ID
// (tenant.ValidateID), a valid provider (ValidateProvider), a version of
// 1 or more and a non-empty ciphertext of printable ASCII without spaces.
// The error wraps ErrRow and, for a bad tenant ID or provider,
// tenant.ErrInvalidID or ErrProvider as well. Every Store calls it in Put,
// so nothing a Vault could not have written is ever stored.
func (r Row) Validate() error {
	if err := tenant.ValidateID(r.TenantID); err != nil {
		return fmt.Errorf("%w: %w", ErrRow, err)
	}
	if err := ValidateProvider(r.Provider); err != nil {
		return fmt.Errorf("%w: %w", ErrRow, err)
	}
	if r.Version < 1 {
		return fmt.Errorf("%w: %s version %d: versions start at 1", ErrRow, r.Provider, r.Version)
	}
	if len(r.Ciphertext) == 0 {
		return fmt.Errorf("%w: %s v%d: empty ciphertext", ErrRow, r.Provider, r.Version)
	}
	for i, c := range r.Ciphertext {
		if c <= ' ' || c > '~' {
			return fmt.Errorf("%w: %s v%d: ciphertext byte %d is %#02x, want printable ASCII (base64)", ErrRow, r.Provider, r.Version, i, c)
		}
	}
	return nil
}

// validateKey checks the arguments of Store.Rows.
func validateKey(tenantID, provider string) error {
	if err := tenant.ValidateID(tenantID); err != nil {
		return err
	}
	return ValidateProvider(provider)
}

// Store keeps encrypted credential rows. Implementations must be safe for
// concurrent use; run credentialstest.RunStoreTests against yours.
//
// A store never decides which tenant is asking: the Vault takes the
// tenant from the context and passes its ID. What a store guarantees is
// that it answers exactly that key, byte for byte, and nothing else.
type Store interface {
	// Put adds a row. It refuses a row that fails Row.Validate, storing
	// nothing, and a row whose (tenant, provider, version) exists with
	// an error wrapping ErrVersionExists, leaving the existing row as it
	// was. Of concurrent Puts of one key exactly one succeeds.
	Put(ctx context.Context, r Row) error
	// Rows returns the tenant's rows for the provider, newest version
	// first: never a row of another tenant or provider, and an empty
	// result (no error) when there is none. An invalid tenant ID or
	// provider is an error wrapping tenant.ErrInvalidID or ErrProvider.
	// The caller may modify what it gets.
	Rows(ctx context.Context, tenantID, provider string) ([]Row, error)
}

// MemStore is an in-memory Store for a single process (tests, the
// embedded mode of a server). It is safe for concurrent use.
type MemStore struct {
	mu   sync.Mutex
	rows map[memKey][]Row
	dk   memKeys
}

// memKey is a struct rather than a joined string so that no tenant ID
// and provider can be spelled to reach another pair's rows.
type memKey struct{ tenantID, provider string }

var (
	_ Store         = (*MemStore)(nil)
	_ DataKeyStore  = (*MemStore)(nil)
	_ TenantDeleter = (*MemStore)(nil)
)

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore { return &MemStore{rows: map[memKey][]Row{}} }

// Put implements Store.
func (m *MemStore) Put(_ context.Context, r Row) error {
	if err := r.Validate(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	k := memKey{r.TenantID, r.Provider}
	for _, x := range m.rows[k] {
		if x.Version == r.Version {
			return fmt.Errorf("%w: %s v%d", ErrVersionExists, r.Provider, r.Version)
		}
	}
	r.Ciphertext = slices.Clone(r.Ciphertext)
	m.rows[k] = append(m.rows[k], r)
	return nil
}

// Rows implements Store.
func (m *MemStore) Rows(_ context.Context, tenantID, provider string) ([]Row, error) {
	if err := validateKey(tenantID, provider); err != nil {
		return nil, err
	}
	m.mu.Lock()
	out := slices.Clone(m.rows[memKey{tenantID, provider}])
	m.mu.Unlock()
	// The caller owns what it gets: a shared backing array would let it
	// rewrite the stored ciphertext.
	for i := range out {
		out[i].Ciphertext = slices.Clone(out[i].Ciphertext)
	}
	slices.SortFunc(out, func(a, b Row) int { return b.Version - a.Version })
	return out, nil
}
