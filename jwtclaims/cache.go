package jwtclaims

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// maxVerifiedCache is the largest size WithVerifiedCache accepts. An entry
// takes a few hundred bytes, so the largest cache stays in the hundreds of
// megabytes.
const maxVerifiedCache = 1 << 20

// WithVerifiedCache makes the Authority remember up to size tokens it has
// fully validated, so that presenting one again skips the signature check
// and the claims parsing (default: no cache). size must be between 1 and
// 1,048,576 (1<<20).
//
// The cache only remembers successes and only answers when it is sure
// the full validation would succeed too: an entry is found by the
// request's tenant and the SHA-256 digest of the token, so a token
// remembered on one tenant is not even looked up on another; every hit
// looks the token's key up again in the KeySource and requires the very
// key it was verified with, so a key removed, replaced or failing to load
// counts at once; and a hit is refused outside the token's exp, nbf and
// iat bounds (with the leeway), exactly as the full check draws them.
// Anything else falls through to the full validation. Hits return a copy
// of the claims, which the caller may modify.
func WithVerifiedCache(size int) Option {
	return func(o *options) error {
		if size < 1 || size > maxVerifiedCache {
			return fmt.Errorf("%w: WithVerifiedCache(%d): size must be between 1 and %d", ErrConfig, size, maxVerifiedCache)
		}
		o.cacheSize = size
		return nil
	}
}

// cacheKey finds a verified token: the tenant it was presented on and its
// digest. The token itself is not kept, so the cache holds nothing a
// memory dump could replay.
type cacheKey struct {
	tenantID string
	sum      [sha256.Size]byte
}

// verified is what the full validation established about a token.
type verified struct {
	claims Claims // never handed out: hits return a copy
	kid    string
	key    Key // the key the signature was checked with
	// The token is valid at t when !t.Before(notBefore) && t.Before(notAfter),
	// the bounds golang-jwt draws from nbf, iat and exp with the leeway.
	notBefore, notAfter time.Time
}

// verifiedCache is a bounded map of verified tokens with random eviction,
// safe for concurrent use. Hits take only the read lock.
type verifiedCache struct {
	mu      sync.RWMutex
	size    int
	entries map[cacheKey]*verified
}

func newVerifiedCache(size int) *verifiedCache {
	return &verifiedCache{size: size, entries: make(map[cacheKey]*verified, min(size, 4096))}
}

func (c *verifiedCache) get(k cacheKey) *verified {
	c.mu.RLock()
	v := c.entries[k]
	c.mu.RUnlock()
	return v
}

// drop removes k if it still holds v (another goroutine may have stored a
// newer entry since).
func (c *verifiedCache) drop(k cacheKey, v *verified) {
	c.mu.Lock()
	if c.entries[k] == v {
		delete(c.entries, k)
	}
	c.mu.Unlock()
}

// add stores v under k. When the cache is full it evicts an entry whose
// token has expired, looking at a few, or else the first one the map's
// randomised iteration yields.
func (c *verifiedCache) add(k cacheKey, v *verified, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[k]; !ok && len(c.entries) >= c.size {
		var victim cacheKey
		seen := 0
		for ek, ev := range c.entries {
			if seen == 0 || !now.Before(ev.notAfter) {
				victim = ek
			}
			if seen++; seen == 8 || !now.Before(ev.notAfter) {
				break
			}
		}
		delete(c.entries, victim)
	}
	c.entries[k] = v
}

// newVerified records a token that has just passed the full validation
// with key. The claims are copied, so that the caller's copy can be
// modified without touching the cache.
func newVerified(c *Claims, kid string, key Key, leeway time.Duration) *verified {
	// Only what sameKey compares is kept: a signing half stays out of
	// the cache, so removing a key from the KeySet does not leave its
	// private part reachable here.
	v := &verified{claims: *cloneClaims(c), kid: kid, key: Key{Method: key.Method, Verify: key.Verify}}
	// exp is required by the parser, so it is present here.
	v.notAfter = c.ExpiresAt.Add(leeway)
	for _, d := range []*jwt.NumericDate{c.NotBefore, c.IssuedAt} {
		if d != nil && d.Add(-leeway).After(v.notBefore) {
			v.notBefore = d.Add(-leeway)
		}
	}
	return v
}

// validAt reports whether the full validation would find the token's
// times valid at now: golang-jwt requires now < exp+leeway, and
// now >= nbf-leeway and now >= iat-leeway.
func (v *verified) validAt(now time.Time) bool {
	return now.Before(v.notAfter) && !now.Before(v.notBefore)
}

// cacheable reports whether sameKey can recognise k again: a key of
// another type could never give a hit, so its tokens are not stored.
func cacheable(k Key) bool { return sameKey(k, k) }

// sameKey reports whether k is the key v was verified with: the same
// algorithm and the same verifying key. Verifying keys of a type it does
// not know are never the same, so such tokens are simply never hits.
func sameKey(a, b Key) bool {
	if a.Method == nil || b.Method == nil || a.Method.Alg() != b.Method.Alg() {
		return false
	}
	switch x := a.Verify.(type) {
	case []byte:
		y, ok := b.Verify.([]byte)
		return ok && hmac.Equal(x, y)
	case ed25519.PublicKey:
		y, ok := b.Verify.(ed25519.PublicKey)
		return ok && x.Equal(y)
	case *ecdsa.PublicKey:
		y, ok := b.Verify.(*ecdsa.PublicKey)
		return ok && x != nil && y != nil && x.Equal(y)
	}
	return false
}

// claimsCopy holds a deep copy of Claims and what its pointers point to,
// so that a copy costs one allocation.
type claimsCopy struct {
	c             Claims
	exp, nbf, iat jwt.NumericDate
	aud           [1]string
}

// cloneClaims returns a deep copy of c: nothing in it shares memory with c.
func cloneClaims(c *Claims) *Claims {
	cp := &claimsCopy{c: *c}
	if c.ExpiresAt != nil {
		cp.exp = *c.ExpiresAt
		cp.c.ExpiresAt = &cp.exp
	}
	if c.NotBefore != nil {
		cp.nbf = *c.NotBefore
		cp.c.NotBefore = &cp.nbf
	}
	if c.IssuedAt != nil {
		cp.iat = *c.IssuedAt
		cp.c.IssuedAt = &cp.iat
	}
	switch {
	case c.Audience == nil:
	case len(c.Audience) == 1:
		cp.aud[0] = c.Audience[0]
		cp.c.Audience = cp.aud[:1:1]
	default:
		cp.c.Audience = append(jwt.ClaimStrings{}, c.Audience...)
	}
	return &cp.c
}
