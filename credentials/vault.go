package credentials

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"gocloud.dev/secrets"

	"github.com/tenantwall/tenantwall/tenant"
)

// Vault keeps per-tenant, per-provider API credentials (the source plan's
// ElevenLabs, Smartflo and OpenAI keys), encrypted at rest with a
// gocloud.dev/secrets Keeper: localsecrets for the embedded default, any
// KMS by URL in production. Every plaintext is sealed together with its
// tenant, provider and version, and checked on decryption, so a ciphertext
// copied to another tenant's row (or provider, or version) is refused with
// ErrBinding. Safe for concurrent use; it does not close the keeper.
type Vault struct {
	keeper *secrets.Keeper
	store  Store
	options
	keys *keyCache // WithDataKeyCache; nil: none
	now  func() time.Time
}

// Option configures New.
type Option func(*options) error

type options struct {
	fallback map[string]string          // provider → platform-wide key
	hosts    map[string]map[string]bool // provider → canonical host:port its credential may go to
	auditor  tenant.Auditor
	dataKeys DataKeyStore // nil: sealed by the keeper alone
	// WithDataKeyCache; size 0: no cache.
	keyCacheSize int
	keyCacheTTL  time.Duration
}

// WithFallback lets provider fall back to a platform-wide key for tenants
// that have none of their own. Off by default: a missing tenant key is an
// error, never the platform's key. Every fallback is reported to the
// auditor.
func WithFallback(provider, key string) Option {
	return func(v *options) error {
		if err := ValidateProvider(provider); err != nil {
			return err
		}
		if key == "" {
			return fmt.Errorf("%w: empty fallback key for %s", ErrConfig, provider)
		}
		v.fallback[provider] = key
		return nil
	}
}

// WithAuditor sets where fallbacks and binding failures are reported
// (default tenant.DefaultAuditor).
func WithAuditor(a tenant.Auditor) Option {
	return func(v *options) error { v.auditor = tenant.OrDefault(a); return nil }
}

// New returns a Vault.
func New(keeper *secrets.Keeper, store Store, opts ...Option) (*Vault, error) {
	if keeper == nil || store == nil {
		return nil, fmt.Errorf("%w: keeper and store are required", ErrConfig)
	}
	v := &Vault{keeper: keeper, store: store, now: time.Now,
		options: options{fallback: map[string]string{}, hosts: map[string]map[string]bool{}, auditor: tenant.DefaultAuditor}}
	for _, o := range opts {
		if err := o(&v.options); err != nil {
			return nil, err
		}
	}
	if v.keyCacheSize > 0 {
		if v.dataKeys == nil {
			return nil, fmt.Errorf("%w: WithDataKeyCache needs WithDataKeys", ErrConfig)
		}
		v.keys = newKeyCache(v.keyCacheSize, v.keyCacheTTL)
	}
	return v, nil
}

// sealed is what is encrypted: the value with its binding.
type sealed struct {
	Tenant   string `json:"t"`
	Provider string `json:"p"`
	Version  int    `json:"v"`
	Value    string `json:"s"`
}

// maxSetAttempts bounds how often Set retries when a concurrent Set of
// the same tenant and provider took the version it chose. Each attempt
// loses only to a writer that succeeded, so this many writers racing on
// one credential all get a version.
const maxSetAttempts = 16

// Set stores a new version of the context tenant's credential for
// provider and returns its version. Older versions stay readable
// (rotation); new calls use the newest. Concurrent Sets of one
// credential each get their own version; after maxSetAttempts lost races
// Set gives up with an error wrapping ErrVersionExists.
func (v *Vault) Set(ctx context.Context, provider, value string) (int, error) {
	id, err := tenant.IDFromContext(ctx)
	if err != nil {
		return 0, err
	}
	if err := ValidateProvider(provider); err != nil {
		return 0, err
	}
	if value == "" {
		return 0, fmt.Errorf("%w: empty credential", ErrConfig)
	}
	for attempt := 1; ; attempt++ {
		version, err := v.put(ctx, id, provider, value)
		if err == nil {
			return version, nil
		}
		if !errors.Is(err, ErrVersionExists) || attempt == maxSetAttempts {
			return 0, err
		}
	}
}

// put seals value as the version after the newest stored one and stores
// it. The version is inside the ciphertext, so a retry seals again.
func (v *Vault) put(ctx context.Context, id, provider, value string) (int, error) {
	rows, err := v.store.Rows(ctx, id, provider)
	if err != nil {
		return 0, fmt.Errorf("credentials: store: %w", err)
	}
	version := 1
	if len(rows) > 0 {
		version = rows[0].Version + 1
	}
	plain, _ := json.Marshal(sealed{Tenant: id, Provider: provider, Version: version, Value: value})
	enc, err := v.seal(ctx, id, plain)
	if err != nil {
		return 0, err
	}
	if err := v.store.Put(ctx, Row{TenantID: id, Provider: provider, Version: version, Ciphertext: []byte(enc), CreatedAt: v.now()}); err != nil {
		return 0, fmt.Errorf("credentials: store: %w", err)
	}
	return version, nil
}

// Get returns the context tenant's newest credential for provider. With
// none, it returns the platform-wide key only if WithFallback enabled it
// for this provider (reported to the auditor), else ErrNoCredential.
func (v *Vault) Get(ctx context.Context, provider string) (Secret, error) {
	return v.get(ctx, provider, 0)
}

// GetVersion returns one version of the context tenant's credential.
func (v *Vault) GetVersion(ctx context.Context, provider string, version int) (Secret, error) {
	if version <= 0 {
		return Secret{}, fmt.Errorf("%w: version %d", ErrNoCredential, version)
	}
	return v.get(ctx, provider, version)
}

func (v *Vault) get(ctx context.Context, provider string, version int) (Secret, error) {
	id, err := tenant.IDFromContext(ctx)
	if err != nil {
		return Secret{}, err
	}
	if err := ValidateProvider(provider); err != nil {
		return Secret{}, err
	}
	rows, err := v.store.Rows(ctx, id, provider)
	if err != nil {
		return Secret{}, fmt.Errorf("credentials: store: %w", err)
	}
	for _, r := range rows {
		if version != 0 && r.Version != version {
			continue
		}
		return v.open(ctx, id, r)
	}
	if version == 0 {
		if key, ok := v.fallback[provider]; ok {
			v.auditor.Audit(ctx, tenant.Event{Kind: tenant.EventPlatformAccess, Package: "credentials", TenantID: id,
				Resource: "platform fallback key for " + provider})
			return Secret{value: key, Provider: provider, Fallback: true}, nil
		}
	}
	return Secret{}, fmt.Errorf("%w: %s", ErrNoCredential, provider)
}

func (v *Vault) open(ctx context.Context, id string, r Row) (Secret, error) {
	plain, err := v.unseal(ctx, id, r)
	if err != nil {
		return Secret{}, err
	}
	var s sealed
	if err := json.Unmarshal(plain, &s); err != nil {
		return Secret{}, fmt.Errorf("credentials: %s v%d: malformed plaintext", r.Provider, r.Version)
	}
	if s.Tenant != id || s.Provider != r.Provider || s.Version != r.Version {
		v.auditor.Audit(ctx, tenant.Event{Kind: tenant.EventCrossTenant, Package: "credentials", TenantID: id, OwnerID: s.Tenant,
			Resource: fmt.Sprintf("credential %s v%d", r.Provider, r.Version)})
		return Secret{}, fmt.Errorf("%w: %s v%d", ErrBinding, r.Provider, r.Version)
	}
	return Secret{value: s.Value, Provider: s.Provider, Version: s.Version}, nil
}
