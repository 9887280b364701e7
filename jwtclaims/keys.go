package jwtclaims

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"sync"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tenantwall/tenantwall/tenant"
)

// Key is one signing key of one tenant. The algorithm is part of the key:
// a token is verified only with the algorithm its key was made for, so
// HS/RS confusion and "none" are impossible.
type Key struct {
	ID     string            // kid: 1 to 64 of A-Z a-z 0-9 _ -
	Method jwt.SigningMethod // HS256, ES256 or EdDSA
	Sign   any               // []byte, *ecdsa.PrivateKey or ed25519.PrivateKey; nil for verify-only keys
	Verify any               // []byte, *ecdsa.PublicKey or ed25519.PublicKey
}

// checkKid validates a kid: 1 to 64 bytes of ASCII letters, digits, '_'
// and '-'. kids come from token headers, so nothing else is looked up.
func checkKid(kid string) error {
	if kid == "" || len(kid) > 64 {
		return fmt.Errorf("%w: %.70q", ErrInvalidKid, kid)
	}
	for i := 0; i < len(kid); i++ {
		c := kid[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return fmt.Errorf("%w: %q", ErrInvalidKid, kid)
		}
	}
	return nil
}

// check admits a key only in the exact shape its algorithm needs, so that
// nothing reaches the signer or verifier that they would treat otherwise
// (a P-384 key under ES256, a truncated Ed25519 key) and a signing half
// always matches the verifying half published or used for checks.
func (k Key) check() error {
	if err := checkKid(k.ID); err != nil {
		return err
	}
	switch k.Method {
	case jwt.SigningMethodHS256:
		b, ok := k.Verify.([]byte)
		if !ok || len(b) < 32 {
			return fmt.Errorf("%w: HS256 key %s needs at least 32 secret bytes", ErrConfig, k.ID)
		}
		if k.Sign != nil {
			if s, ok := k.Sign.([]byte); !ok || !bytes.Equal(s, b) {
				return fmt.Errorf("%w: HS256 key %s signs with another secret than it verifies with", ErrConfig, k.ID)
			}
		}
	case jwt.SigningMethodES256:
		pub, ok := k.Verify.(*ecdsa.PublicKey)
		if !ok || pub == nil || pub.Curve != elliptic.P256() {
			return fmt.Errorf("%w: ES256 key %s needs a P-256 *ecdsa.PublicKey", ErrConfig, k.ID)
		}
		if _, err := pub.Bytes(); err != nil {
			return fmt.Errorf("%w: ES256 key %s: %w", ErrConfig, k.ID, err)
		}
		if k.Sign != nil {
			if priv, ok := k.Sign.(*ecdsa.PrivateKey); !ok || priv == nil || !priv.PublicKey.Equal(pub) {
				return fmt.Errorf("%w: ES256 key %s: the private key is not the public key's pair", ErrConfig, k.ID)
			}
		}
	case jwt.SigningMethodEdDSA:
		pub, ok := k.Verify.(ed25519.PublicKey)
		if !ok || len(pub) != ed25519.PublicKeySize {
			return fmt.Errorf("%w: EdDSA key %s needs a %d-byte ed25519.PublicKey", ErrConfig, k.ID, ed25519.PublicKeySize)
		}
		if k.Sign != nil {
			if priv, ok := k.Sign.(ed25519.PrivateKey); !ok || len(priv) != ed25519.PrivateKeySize || !pub.Equal(priv.Public()) {
				return fmt.Errorf("%w: EdDSA key %s: the private key is not the public key's pair", ErrConfig, k.ID)
			}
		}
	default:
		return fmt.Errorf("%w: key %s: algorithm not allowed", ErrConfig, k.ID)
	}
	return nil
}

// NewHS256Key returns a key with 32 random secret bytes.
func NewHS256Key(kid string) Key {
	secret := make([]byte, 32)
	rand.Read(secret)
	return Key{ID: kid, Method: jwt.SigningMethodHS256, Sign: secret, Verify: secret}
}

// NewEdDSAKey returns a fresh Ed25519 key pair.
func NewEdDSAKey(kid string) Key {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	return Key{ID: kid, Method: jwt.SigningMethodEdDSA, Sign: priv, Verify: pub}
}

// NewES256Key returns a fresh P-256 key pair.
func NewES256Key(kid string) Key {
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	return Key{ID: kid, Method: jwt.SigningMethodES256, Sign: priv, Verify: &priv.PublicKey}
}

// KeySource finds a tenant's keys. Lookups are keyed by (tenant, kid), so
// a key of tenant A is never even considered for a token on tenant B.
type KeySource interface {
	// Key returns the tenant's key with this kid, or an error wrapping
	// ErrUnknownKey.
	Key(ctx context.Context, tenantID, kid string) (Key, error)
	// Current returns the key new tokens of the tenant are signed with.
	Current(ctx context.Context, tenantID string) (Key, error)
}

// KeySet is an in-memory KeySource, safe for concurrent use. Rotate by
// adding a new key and making it current; keep the old one until the
// tokens it signed have expired, then remove it.
type KeySet struct {
	mu      sync.RWMutex
	keys    map[string]map[string]Key // tenant → kid → key
	current map[string]string
}

var _ KeySource = (*KeySet)(nil)

// NewKeySet returns an empty KeySet.
func NewKeySet() *KeySet {
	return &KeySet{keys: map[string]map[string]Key{}, current: map[string]string{}}
}

// Add adds a key for a tenant; the first key of a tenant becomes current.
func (s *KeySet) Add(tenantID string, k Key) error {
	if err := tenant.ValidateID(tenantID); err != nil {
		return err
	}
	if err := k.check(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.keys[tenantID]
	if m == nil {
		m = map[string]Key{}
		s.keys[tenantID] = m
	}
	if _, dup := m[k.ID]; dup {
		return fmt.Errorf("%w: tenant %s already has kid %s", ErrConfig, tenantID, k.ID)
	}
	m[k.ID] = k
	if s.current[tenantID] == "" {
		s.current[tenantID] = k.ID
	}
	return nil
}

// SetCurrent makes kid the tenant's signing key.
func (s *KeySet) SetCurrent(tenantID, kid string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[tenantID][kid]
	if !ok {
		return fmt.Errorf("%w: tenant %s kid %s", ErrUnknownKey, tenantID, kid)
	}
	if k.Sign == nil {
		return fmt.Errorf("%w: kid %s cannot sign", ErrConfig, kid)
	}
	s.current[tenantID] = kid
	return nil
}

// Remove drops a key; tokens it signed stop validating.
func (s *KeySet) Remove(tenantID, kid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.keys[tenantID], kid)
	if s.current[tenantID] == kid {
		delete(s.current, tenantID)
	}
}

// RemoveTenant drops every key of a tenant, for tenant deletion, and
// returns how many there were: every token the tenant's keys signed,
// access and refresh alike, stops validating.
func (s *KeySet) RemoveTenant(tenantID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.keys[tenantID])
	delete(s.keys, tenantID)
	delete(s.current, tenantID)
	return n
}

// Key implements KeySource.
func (s *KeySet) Key(_ context.Context, tenantID, kid string) (Key, error) {
	s.mu.RLock()
	k, ok := s.keys[tenantID][kid]
	s.mu.RUnlock()
	if !ok {
		return Key{}, fmt.Errorf("%w: kid %q", ErrUnknownKey, kid)
	}
	return k, nil
}

// Current implements KeySource.
func (s *KeySet) Current(ctx context.Context, tenantID string) (Key, error) {
	s.mu.RLock()
	kid := s.current[tenantID]
	s.mu.RUnlock()
	if kid == "" {
		return Key{}, fmt.Errorf("%w: tenant %s has no signing key", ErrUnknownKey, tenantID)
	}
	return s.Key(ctx, tenantID, kid)
}

// JWKSHandler serves the context tenant's public keys (ES256 and EdDSA;
// HMAC secrets are never published) as a JSON Web Key Set. Requests
// without a tenant get 404.
func (s *KeySet) JWKSHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := tenant.IDFromContext(r.Context())
		if err != nil {
			http.NotFound(w, r)
			return
		}
		s.mu.RLock()
		var keys []map[string]string
		for _, k := range s.keys[id] {
			if j := jwk(k); j != nil {
				keys = append(keys, j)
			}
		}
		s.mu.RUnlock()
		sort.Slice(keys, func(i, j int) bool { return keys[i]["kid"] < keys[j]["kid"] })
		if keys == nil {
			keys = []map[string]string{}
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": keys})
	})
}

func jwk(k Key) map[string]string {
	b64 := base64.RawURLEncoding.EncodeToString
	switch pub := k.Verify.(type) {
	case ed25519.PublicKey:
		return map[string]string{"kty": "OKP", "crv": "Ed25519", "x": b64(pub), "kid": k.ID, "alg": "EdDSA", "use": "sig"}
	case *ecdsa.PublicKey:
		b, err := pub.Bytes() // uncompressed point: 0x04 || X || Y
		if err != nil || len(b) != 65 {
			return nil
		}
		return map[string]string{"kty": "EC", "crv": "P-256", "x": b64(b[1:33]), "y": b64(b[33:]), "kid": k.ID, "alg": "ES256", "use": "sig"}
	}
	return nil
}
