package credentials

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"gocloud.dev/secrets/localsecrets"

	"github.com/tenantwall/tenantwall/tenant"
)

// DataKeyStore keeps each tenant's data key, wrapped (encrypted) by the
// Vault's keeper. With WithDataKeys, a Vault seals every credential under
// its tenant's own data key, so that destroying that key (DeleteTenant)
// makes every copy of the tenant's ciphertext unreadable, backups
// included: crypto-shredding. Implementations must be safe for concurrent
// use; MemStore and credentials/sqlstore.KeyStore implement it.
//
// The shred holds against copies of the credential rows that do not
// include this store's wrapped keys. Keep the key store in a database of
// its own, out of the data backups and with a short retention of its own
// backups: a backup holding both the rows and the key, with the keeper's
// key, still opens.
type DataKeyStore interface {
	// DataKey returns the tenant's wrapped key, or found=false (no
	// error) when it has none.
	DataKey(ctx context.Context, tenantID string) (wrapped []byte, found bool, err error)
	// PutDataKey stores the tenant's wrapped key when it has none and
	// returns an error wrapping ErrVersionExists, storing nothing, when
	// it has one already (a concurrent Set made it).
	PutDataKey(ctx context.Context, tenantID string, wrapped []byte) error
	// DestroyDataKey deletes the tenant's key and reports whether there
	// was one.
	DestroyDataKey(ctx context.Context, tenantID string) (bool, error)
}

// TenantDeleter is the optional upgrade of a Store that DeleteTenant
// needs: it removes every row of a tenant and returns how many there
// were. MemStore and credentials/sqlstore.Store implement it.
type TenantDeleter interface {
	DeleteTenant(ctx context.Context, tenantID string) (int64, error)
}

// WithDataKeys seals each tenant's credentials under a data key of its
// own (32 random bytes, NaCl secretbox through localsecrets), kept in ks
// wrapped by the Vault's keeper. Off by default: then everything is sealed
// by the keeper directly and nothing can be shredded per tenant.
//
// Rows sealed before the option was turned on stay readable through the
// keeper; they are not shredded by DeleteTenant, only deleted.
func WithDataKeys(ks DataKeyStore) Option {
	return func(v *options) error {
		if ks == nil {
			return fmt.Errorf("%w: WithDataKeys: nil store", ErrConfig)
		}
		v.dataKeys = ks
		return nil
	}
}

// dataKeyPrefix marks a ciphertext sealed under the tenant's data key;
// anything else was sealed by the keeper itself.
const dataKeyPrefix = "dk1:"

// dataKey returns the tenant's plaintext data key as the DataKeyStore
// holds it now, making one when create is set and there is none, and
// keeps it in the Vault's cache (WithDataKeyCache).
func (v *Vault) dataKey(ctx context.Context, id string, create bool) ([32]byte, error) {
	gen := v.keys.generation()
	key, err := v.storedDataKey(ctx, id, create)
	if err == nil {
		v.keys.put(id, key, gen, v.now())
	}
	return key, err
}

// storedDataKey is dataKey without the cache.
func (v *Vault) storedDataKey(ctx context.Context, id string, create bool) ([32]byte, error) {
	var key [32]byte
	for range 2 {
		wrapped, found, err := v.dataKeys.DataKey(ctx, id)
		if err != nil {
			return key, fmt.Errorf("credentials: data key: %w", err)
		}
		if found {
			plain, err := v.keeper.Decrypt(ctx, wrapped)
			if err != nil {
				return key, fmt.Errorf("credentials: unwrap data key: %w", err)
			}
			n := copy(key[:], plain)
			clear(plain)
			if n != len(plain) || n != len(key) {
				clear(key[:])
				return key, fmt.Errorf("credentials: data key of tenant %s is %d bytes, want 32", id, len(plain))
			}
			return key, nil
		}
		if !create {
			return key, fmt.Errorf("%w: tenant %s", ErrShredded, id)
		}
		if _, err := rand.Read(key[:]); err != nil {
			return key, err
		}
		wrapped, err = v.keeper.Encrypt(ctx, key[:])
		if err != nil {
			return key, fmt.Errorf("credentials: wrap data key: %w", err)
		}
		err = v.dataKeys.PutDataKey(ctx, id, wrapped)
		if err == nil {
			return key, nil
		}
		if !errors.Is(err, ErrVersionExists) {
			return key, fmt.Errorf("credentials: store data key: %w", err)
		}
		// A concurrent Set stored its key first: use that one.
	}
	return key, fmt.Errorf("credentials: data key of tenant %s: lost the race twice", id)
}

// seal encrypts plain for the tenant and returns the stored text.
func (v *Vault) seal(ctx context.Context, id string, plain []byte) (string, error) {
	if v.dataKeys == nil {
		ct, err := v.keeper.Encrypt(ctx, plain)
		if err != nil {
			return "", fmt.Errorf("credentials: encrypt: %w", err)
		}
		return base64.StdEncoding.EncodeToString(ct), nil
	}
	// Never a cached key: what is sealed now must open under the key the
	// store holds.
	key, err := v.dataKey(ctx, id, true)
	if err != nil {
		return "", err
	}
	ct, err := localsecrets.NewKeeper(key).Encrypt(ctx, plain)
	if err != nil {
		return "", fmt.Errorf("credentials: encrypt: %w", err)
	}
	return dataKeyPrefix + base64.StdEncoding.EncodeToString(ct), nil
}

// unseal decrypts a stored text of the tenant.
func (v *Vault) unseal(ctx context.Context, id string, r Row) ([]byte, error) {
	text, underDataKey := strings.CutPrefix(string(r.Ciphertext), dataKeyPrefix)
	ct, err := base64.StdEncoding.DecodeString(text)
	if err != nil {
		return nil, fmt.Errorf("credentials: %s v%d: malformed ciphertext", r.Provider, r.Version)
	}
	if !underDataKey {
		plain, err := v.keeper.Decrypt(ctx, ct)
		if err != nil {
			return nil, fmt.Errorf("credentials: decrypt %s v%d: %w", r.Provider, r.Version, err)
		}
		return plain, nil
	}
	if v.dataKeys == nil {
		return nil, fmt.Errorf("%w: %s v%d is sealed under a tenant data key and the Vault has no WithDataKeys", ErrConfig, r.Provider, r.Version)
	}
	if key, ok := v.keys.get(id, v.now()); ok {
		if plain, err := localsecrets.NewKeeper(key).Decrypt(ctx, ct); err == nil {
			return plain, nil
		}
		// The cached key may be one the tenant no longer has (deleted and
		// made again by another process): ask the store.
		v.keys.drop(id)
	}
	key, err := v.dataKey(ctx, id, false)
	if err != nil {
		return nil, err
	}
	plain, err := localsecrets.NewKeeper(key).Decrypt(ctx, ct)
	if err != nil {
		return nil, fmt.Errorf("credentials: decrypt %s v%d: %w", r.Provider, r.Version, err)
	}
	return plain, nil
}

// Deleted is what DeleteTenant removed.
type Deleted struct {
	Rows    int64 // credential versions deleted
	DataKey bool  // the tenant's data key existed and was destroyed
}

// DeleteTenant removes a tenant's credentials, for tenant deletion. It
// destroys the tenant's data key first (WithDataKeys), so that every copy
// of its ciphertext, in the store or in a backup taken earlier, can no
// longer be opened, and then deletes its rows. It is platform work: ctx
// must carry tenant.WithPlatformScope's reason, which is reported to the
// auditor. The store must implement TenantDeleter (else ErrConfig).
// Calling it again for a tenant with nothing left removes nothing and
// succeeds. With WithDataKeyCache the key leaves this Vault's cache as
// well; other processes' caches keep it until it expires there.
func (v *Vault) DeleteTenant(ctx context.Context, tenantID string) (Deleted, error) {
	var d Deleted
	if err := tenant.ValidateID(tenantID); err != nil {
		return d, err
	}
	del, ok := v.store.(TenantDeleter)
	if !ok {
		return d, fmt.Errorf("%w: the store %T cannot delete a tenant (TenantDeleter)", ErrConfig, v.store)
	}
	if _, err := tenant.RequirePlatformScope(ctx, v.auditor, tenant.Event{Package: "credentials",
		OwnerID: tenantID, Resource: "delete tenant credentials"}); err != nil {
		return d, err
	}
	if v.dataKeys != nil {
		found, err := v.dataKeys.DestroyDataKey(ctx, tenantID)
		// After the destroy, failed or not: a key read before it (by a
		// read racing this delete) is not kept either.
		v.keys.drop(tenantID)
		if err != nil {
			return d, fmt.Errorf("credentials: destroy data key: %w", err)
		}
		d.DataKey = found
	}
	n, err := del.DeleteTenant(ctx, tenantID)
	d.Rows = n
	if err != nil {
		return d, fmt.Errorf("credentials: delete rows: %w", err)
	}
	return d, nil
}

// memKeys is MemStore's DataKeyStore part.
type memKeys struct {
	mu   sync.Mutex
	keys map[string][]byte
}

// DataKey implements DataKeyStore.
func (m *MemStore) DataKey(_ context.Context, tenantID string) ([]byte, bool, error) {
	if err := tenant.ValidateID(tenantID); err != nil {
		return nil, false, err
	}
	m.dk.mu.Lock()
	defer m.dk.mu.Unlock()
	k, ok := m.dk.keys[tenantID]
	return slices.Clone(k), ok, nil
}

// PutDataKey implements DataKeyStore.
func (m *MemStore) PutDataKey(_ context.Context, tenantID string, wrapped []byte) error {
	if err := tenant.ValidateID(tenantID); err != nil {
		return err
	}
	if len(wrapped) == 0 {
		return fmt.Errorf("%w: empty data key", ErrRow)
	}
	m.dk.mu.Lock()
	defer m.dk.mu.Unlock()
	if m.dk.keys == nil {
		m.dk.keys = map[string][]byte{}
	}
	if _, ok := m.dk.keys[tenantID]; ok {
		return fmt.Errorf("%w: data key of tenant %s", ErrVersionExists, tenantID)
	}
	m.dk.keys[tenantID] = slices.Clone(wrapped)
	return nil
}

// DestroyDataKey implements DataKeyStore.
func (m *MemStore) DestroyDataKey(_ context.Context, tenantID string) (bool, error) {
	if err := tenant.ValidateID(tenantID); err != nil {
		return false, err
	}
	m.dk.mu.Lock()
	defer m.dk.mu.Unlock()
	k, ok := m.dk.keys[tenantID]
	clear(k)
	delete(m.dk.keys, tenantID)
	return ok, nil
}

// DeleteTenant implements TenantDeleter.
func (m *MemStore) DeleteTenant(_ context.Context, tenantID string) (int64, error) {
	if err := tenant.ValidateID(tenantID); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var n int64
	for k, rows := range m.rows {
		if k.tenantID == tenantID {
			n += int64(len(rows))
			delete(m.rows, k)
		}
	}
	return n, nil
}
