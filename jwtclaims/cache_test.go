package jwtclaims_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/jwtclaims"
	"github.com/tenantwall/tenantwall/tenant"
	"github.com/tenantwall/tenantwall/tenant/tenanttest"
)

// cacheFixture has two Authorities over the same keys and clock, one
// validating every token in full and one with a verified-token cache, so
// that every answer of the cache can be compared with the full one.
type cacheFixture struct {
	*fixture
	mk                      func(kid string) jwtclaims.Key
	src                     *failingKeys
	plain, cached           *jwtclaims.Authority
	plainAudit, cachedAudit *tenanttest.AuditRecorder
}

func newCacheFixture(t *testing.T, mk func(string) jwtclaims.Key, size int) *cacheFixture {
	t.Helper()
	cf := &cacheFixture{fixture: newFixture(t, mk), mk: mk, plainAudit: &tenanttest.AuditRecorder{}, cachedAudit: &tenanttest.AuditRecorder{}}
	cf.src = &failingKeys{KeySet: cf.keys}
	clock := jwtclaims.WithClock(func() time.Time { return cf.now })
	var err error
	cf.plain, err = jwtclaims.New(cf.src, "https://auth.example.com", "crm", clock, jwtclaims.WithAuditor(cf.plainAudit))
	require.NoError(t, err)
	cf.cached, err = jwtclaims.New(cf.src, "https://auth.example.com", "crm", clock, jwtclaims.WithAuditor(cf.cachedAudit),
		jwtclaims.WithVerifiedCache(size))
	require.NoError(t, err)
	return cf
}

// same validates tok with both Authorities and requires the same answer:
// equal claims, or errors with the same text. It returns the cached one.
func (cf *cacheFixture) same(t *testing.T, ctx context.Context, tok, typ string) (*jwtclaims.Claims, error) {
	t.Helper()
	want, wantErr := cf.plain.Validate(ctx, tok, typ)
	got, err := cf.cached.Validate(ctx, tok, typ)
	if wantErr != nil {
		require.Error(t, err, "the cache admitted a token the full validation refuses: %v", wantErr)
		assert.Equal(t, wantErr.Error(), err.Error(), "the cache answers another error")
	} else {
		require.NoError(t, err, "the cache refused a token the full validation admits")
	}
	assert.Equal(t, want, got)
	assert.Equal(t, len(cf.plainAudit.Events()), len(cf.cachedAudit.Events()), "the cache audits otherwise")
	return got, err
}

var cacheAlgorithms = map[string]func(string) jwtclaims.Key{"EdDSA": jwtclaims.NewEdDSAKey, "HS256": jwtclaims.NewHS256Key}

// A cached token must get exactly the answer the full validation gives,
// whatever changed since it was cached: the tenant it is presented on, the
// clock, the keys, the key source's health, the wanted type.
func TestVerifiedCacheAnswersAsTheFullValidation(t *testing.T) {
	leeway := jwtclaims.DefaultLeeway
	cases := []struct {
		name   string
		change func(t *testing.T, cf *cacheFixture) (ctx context.Context, typ string)
		is     error // nil: the token is still valid
	}{
		{"a token cached on A is refused on B, whose keys do not know its kid", func(t *testing.T, cf *cacheFixture) (context.Context, string) {
			return cf.ctxB, jwtclaims.Access
		}, jwtclaims.ErrUnknownKey},
		{"a token cached on A is refused without a tenant", func(t *testing.T, cf *cacheFixture) (context.Context, string) {
			return context.Background(), jwtclaims.Access
		}, tenant.ErrNoTenant},
		{"a token still valid is admitted again", func(t *testing.T, cf *cacheFixture) (context.Context, string) {
			return cf.ctxA, jwtclaims.Access
		}, nil},
		{"a token one second before exp plus the leeway is admitted", func(t *testing.T, cf *cacheFixture) (context.Context, string) {
			cf.now = cf.now.Add(jwtclaims.DefaultAccessTTL + leeway - time.Second)
			return cf.ctxA, jwtclaims.Access
		}, nil},
		{"a token that expired while cached is refused at exp plus the leeway", func(t *testing.T, cf *cacheFixture) (context.Context, string) {
			cf.now = cf.now.Add(jwtclaims.DefaultAccessTTL + leeway)
			return cf.ctxA, jwtclaims.Access
		}, jwt.ErrTokenExpired},
		{"a token long expired while cached is refused", func(t *testing.T, cf *cacheFixture) (context.Context, string) {
			cf.now = cf.now.Add(365 * 24 * time.Hour)
			return cf.ctxA, jwtclaims.Access
		}, jwt.ErrTokenExpired},
		{"a clock set back to nbf minus the leeway still admits it", func(t *testing.T, cf *cacheFixture) (context.Context, string) {
			cf.now = cf.now.Add(-leeway)
			return cf.ctxA, jwtclaims.Access
		}, nil},
		{"a clock set back before nbf minus the leeway refuses it", func(t *testing.T, cf *cacheFixture) (context.Context, string) {
			cf.now = cf.now.Add(-leeway - time.Second)
			return cf.ctxA, jwtclaims.Access
		}, jwt.ErrTokenInvalidClaims},
		{"a token whose key was removed is refused", func(t *testing.T, cf *cacheFixture) (context.Context, string) {
			cf.keys.Remove(cf.a.ID, "a1")
			return cf.ctxA, jwtclaims.Access
		}, jwtclaims.ErrUnknownKey},
		{"a token of a tenant removed since it was cached is refused", func(t *testing.T, cf *cacheFixture) (context.Context, string) {
			require.Equal(t, 1, cf.keys.RemoveTenant(cf.a.ID))
			return cf.ctxA, jwtclaims.Access
		}, jwtclaims.ErrUnknownKey},
		{"a token of a tenant removed and given a new key under the same kid is refused", func(t *testing.T, cf *cacheFixture) (context.Context, string) {
			require.Equal(t, 1, cf.keys.RemoveTenant(cf.a.ID))
			require.NoError(t, cf.keys.Add(cf.a.ID, cf.mk("a1")))
			return cf.ctxA, jwtclaims.Access
		}, jwt.ErrTokenSignatureInvalid},
		{"a token whose kid now names another key is refused", func(t *testing.T, cf *cacheFixture) (context.Context, string) {
			cf.keys.Remove(cf.a.ID, "a1")
			require.NoError(t, cf.keys.Add(cf.a.ID, cf.mk("a1")))
			return cf.ctxA, jwtclaims.Access
		}, jwt.ErrTokenSignatureInvalid},
		{"a token of the previous key is admitted during a rotation, as without the cache", func(t *testing.T, cf *cacheFixture) (context.Context, string) {
			require.NoError(t, cf.keys.Add(cf.a.ID, cf.mk("a2")))
			require.NoError(t, cf.keys.SetCurrent(cf.a.ID, "a2"))
			return cf.ctxA, jwtclaims.Access
		}, nil},
		{"a token is not admitted from memory while the key source fails", func(t *testing.T, cf *cacheFixture) (context.Context, string) {
			cf.src.err = context.DeadlineExceeded
			return cf.ctxA, jwtclaims.Access
		}, jwtclaims.ErrKeySource},
		{"a token whose kid the key source no longer knows is refused", func(t *testing.T, cf *cacheFixture) (context.Context, string) {
			cf.src.err = fmt.Errorf("revoked: %w", jwtclaims.ErrUnknownKey)
			return cf.ctxA, jwtclaims.Access
		}, jwtclaims.ErrUnknownKey},
		{"an access token asked for as a refresh token is refused", func(t *testing.T, cf *cacheFixture) (context.Context, string) {
			return cf.ctxA, jwtclaims.Refresh
		}, jwtclaims.ErrTokenType},
		{"an unknown token type is refused", func(t *testing.T, cf *cacheFixture) (context.Context, string) {
			return cf.ctxA, ""
		}, jwtclaims.ErrTokenType},
	}
	for alg, mk := range cacheAlgorithms {
		for _, c := range cases {
			t.Run(alg+": "+c.name, func(t *testing.T) {
				cf := newCacheFixture(t, mk, 16)
				access, _, err := cf.cached.Issue(cf.ctxA, "alice")
				require.NoError(t, err)
				_, err = cf.same(t, cf.ctxA, access, jwtclaims.Access)
				require.NoError(t, err)
				require.Equal(t, 1, jwtclaims.CacheLen(cf.cached), "the token is cached")

				ctx, typ := c.change(t, cf)
				claims, err := cf.same(t, ctx, access, typ)
				if c.is == nil {
					require.NoError(t, err)
					assert.Equal(t, cf.a.ID, claims.TenantID)
				} else {
					assert.ErrorIs(t, err, c.is)
				}
				// Asked again, the answer is still the full one (a refused
				// token was not remembered as good, a good one is still good).
				_, _ = cf.same(t, ctx, access, typ)
				cf.src.err = nil
			})
		}
	}
}

// Even when two tenants share a key (same kid, same secret), a token
// cached on A is refused on B by the tenant check, and audited, because B
// looks up its own entries only.
func TestVerifiedCacheKeepsTenantsApartWithASharedKey(t *testing.T) {
	for alg, mk := range cacheAlgorithms {
		t.Run(alg+": a token cached on A is refused on B and audited", func(t *testing.T) {
			cf := newCacheFixture(t, mk, 16)
			shared := mk("shared")
			require.NoError(t, cf.keys.Add(cf.a.ID, shared))
			require.NoError(t, cf.keys.Add(cf.b.ID, shared))
			require.NoError(t, cf.keys.SetCurrent(cf.a.ID, "shared"))
			access, refresh, err := cf.cached.Issue(cf.ctxA, "alice")
			require.NoError(t, err)
			for _, tok := range []string{access, access, refresh} {
				typ := jwtclaims.Access
				if tok == refresh {
					typ = jwtclaims.Refresh
				}
				_, err = cf.same(t, cf.ctxA, tok, typ)
				require.NoError(t, err)
			}
			for i, tok := range []string{access, refresh, access} {
				_, err = cf.same(t, cf.ctxB, tok, jwtclaims.Access)
				assert.ErrorIs(t, err, jwtclaims.ErrTenantMismatch)
				require.Equal(t, i+1, cf.cachedAudit.Count(tenant.EventCrossTenant), "every attempt is audited")
				e := lastEvent(cf.cachedAudit)
				assert.Equal(t, cf.b.ID, e.TenantID)
				assert.Equal(t, cf.a.ID, e.OwnerID)
			}
			_, err = cf.same(t, cf.ctxB, refresh, jwtclaims.Refresh)
			assert.ErrorIs(t, err, jwtclaims.ErrTenantMismatch)
		})
	}
}

// Removing a tenant (KeySet.RemoveTenant, as tenant deletion does) ends
// its tokens that the cache already holds, access and refresh alike,
// through Validate, Refresh and Middleware, and drops their entries; the
// other tenant's cached tokens still validate.
func TestVerifiedCacheForgetsARemovedTenant(t *testing.T) {
	for alg, mk := range cacheAlgorithms {
		t.Run(alg+": tokens cached before the tenant was removed are refused", func(t *testing.T) {
			cf := newCacheFixture(t, mk, 16)
			access, refresh, err := cf.cached.Issue(cf.ctxA, "alice")
			require.NoError(t, err)
			other, _, err := cf.cached.Issue(cf.ctxB, "bob")
			require.NoError(t, err)
			serve := func(tok string) int {
				h := cf.cached.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
				r := httptest.NewRequestWithContext(cf.ctxA, http.MethodGet, "/api/", nil)
				r.Header.Set("Authorization", "Bearer "+tok)
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				return w.Code
			}
			for range 2 { // a miss that fills the cache, then a hit
				_, err = cf.same(t, cf.ctxA, access, jwtclaims.Access)
				require.NoError(t, err)
				_, err = cf.same(t, cf.ctxA, refresh, jwtclaims.Refresh)
				require.NoError(t, err)
				_, err = cf.same(t, cf.ctxB, other, jwtclaims.Access)
				require.NoError(t, err)
				require.Equal(t, http.StatusOK, serve(access))
				_, err = cf.cached.Refresh(cf.ctxA, refresh)
				require.NoError(t, err)
			}
			require.Equal(t, 3, jwtclaims.CacheLen(cf.cached), "both of A's tokens and B's are cached")

			require.Equal(t, 1, cf.keys.RemoveTenant(cf.a.ID))

			_, err = cf.same(t, cf.ctxA, access, jwtclaims.Access)
			assert.ErrorIs(t, err, jwtclaims.ErrUnknownKey, "the access token")
			_, err = cf.same(t, cf.ctxA, refresh, jwtclaims.Refresh)
			assert.ErrorIs(t, err, jwtclaims.ErrUnknownKey, "the refresh token")
			_, err = cf.cached.Refresh(cf.ctxA, refresh)
			assert.ErrorIs(t, err, jwtclaims.ErrUnknownKey, "refreshing")
			assert.Equal(t, http.StatusUnauthorized, serve(access), "the middleware")
			assert.Equal(t, 1, jwtclaims.CacheLen(cf.cached), "the removed tenant's entries are dropped")
			_, err = cf.same(t, cf.ctxB, other, jwtclaims.Access)
			assert.NoError(t, err, "the other tenant's cached token still validates")
		})
	}
}

// A token that differs from a cached one in any way (a changed signature
// or payload, a byte added or cut off) is a different token: it is judged
// in full, never by the cached one's entry.
func TestVerifiedCacheRefusesTamperedTokens(t *testing.T) {
	for alg, mk := range cacheAlgorithms {
		cf := newCacheFixture(t, mk, 16)
		access, _, err := cf.cached.Issue(cf.ctxA, "alice")
		require.NoError(t, err)
		_, err = cf.same(t, cf.ctxA, access, jwtclaims.Access)
		require.NoError(t, err)
		forged, _, err := cf.cached.Issue(cf.ctxB, "alice")
		require.NoError(t, err)
		dot := len(access) - len(access[lastDot(access):])
		for name, tok := range map[string]string{
			"the signature's last four characters replaced": access[:len(access)-4] + flip4(access[len(access)-4:]),
			"the signature's first character replaced":      access[:dot+1] + flip1(access[dot+1:dot+2]) + access[dot+2:],
			"a payload character replaced":                  access[:40] + flip1(access[40:41]) + access[41:],
			"a character appended":                          access + "A",
			"the last character cut off":                    access[:len(access)-1],
			"the signature cut off":                         access[:dot+1],
			"the signature of another tenant's token":       access[:dot] + forged[lastDot(forged):],
			"a second signature appended":                   access + access[dot:],
			"the token twice":                               access + access,
		} {
			t.Run(alg+": "+name, func(t *testing.T) {
				require.NotEqual(t, access, tok)
				_, err := cf.same(t, cf.ctxA, tok, jwtclaims.Access)
				assert.Error(t, err)
			})
		}
	}
}

func lastDot(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '.' {
			return i
		}
	}
	return -1
}

// flip1 replaces a base64url character with another whose top bits
// differ, so the decoded bytes change.
func flip1(s string) string {
	if s == "A" {
		return "g"
	}
	return "A"
}

func flip4(s string) string {
	if s == "AAAA" {
		return "gggg"
	}
	return "AAAA"
}

// The claims a hit returns are the caller's: changing them changes
// neither what the cache answers next nor when the token expires.
func TestVerifiedCacheClaimsAreTheCallersCopy(t *testing.T) {
	cf := newCacheFixture(t, jwtclaims.NewEdDSAKey, 16)
	access, _, err := cf.cached.Issue(cf.ctxA, "alice")
	require.NoError(t, err)
	for range 2 { // the miss's claims, then a hit's
		c, err := cf.same(t, cf.ctxA, access, jwtclaims.Access)
		require.NoError(t, err)
		c.Subject, c.TenantID, c.Type = "admin", cf.b.ID, jwtclaims.Refresh
		c.Audience[0] = "crm:" + cf.b.ID
		c.ExpiresAt.Time = c.ExpiresAt.Add(100 * 365 * 24 * time.Hour)
		c.NotBefore.Time, c.IssuedAt.Time = time.Time{}, time.Time{}
	}
	c, err := cf.same(t, cf.ctxA, access, jwtclaims.Access)
	require.NoError(t, err)
	assert.Equal(t, "alice", c.Subject)
	_, err = cf.same(t, cf.ctxA, access, jwtclaims.Refresh)
	assert.ErrorIs(t, err, jwtclaims.ErrTokenType)
	cf.now = cf.now.Add(time.Hour)
	_, err = cf.same(t, cf.ctxA, access, jwtclaims.Access)
	assert.ErrorIs(t, err, jwt.ErrTokenExpired)
}

// A full cache evicts and stays correct: many tokens of two tenants,
// presented on both, through a cache of three entries.
func TestVerifiedCacheIsBoundedAndStillCorrect(t *testing.T) {
	for alg, mk := range cacheAlgorithms {
		t.Run(alg+": a cache of three entries judges forty tokens on two tenants as the full validation", func(t *testing.T) {
			cf := newCacheFixture(t, mk, 3)
			var toks []string
			var owners []tenant.Tenant
			for i := range 20 {
				for _, tn := range []tenant.Tenant{cf.a, cf.b} {
					tok, _, err := cf.cached.Issue(tenant.NewContext(context.Background(), tn), fmt.Sprint("user-", i))
					require.NoError(t, err)
					toks, owners = append(toks, tok), append(owners, tn)
				}
			}
			for round := range 3 {
				for i, tok := range toks {
					for _, ctx := range []context.Context{cf.ctxA, cf.ctxB} {
						c, err := cf.same(t, ctx, tok, jwtclaims.Access)
						if owners[i].ID == tenant.MustFromContext(ctx).ID {
							require.NoError(t, err)
							assert.Equal(t, owners[i].ID, c.TenantID)
						} else {
							assert.ErrorIs(t, err, jwtclaims.ErrUnknownKey, "B's keys do not know A's kid")
						}
						assert.LessOrEqual(t, jwtclaims.CacheLen(cf.cached), 3, "round %d", round)
					}
				}
				cf.now = cf.now.Add(5 * time.Minute)
			}
			cf.now = cf.now.Add(time.Hour)
			for _, tok := range toks[:4] {
				_, err := cf.same(t, cf.ctxA, tok, jwtclaims.Access)
				assert.Error(t, err, "expired")
			}
		})
	}
}

// A hit skips the signature check and the claims parsing: it allocates
// only the caller's copy of the claims.
func TestVerifiedCacheHitSkipsTheSignatureCheck(t *testing.T) {
	for alg, mk := range cacheAlgorithms {
		t.Run(alg+": a hit allocates only the claims copy", func(t *testing.T) {
			cf := newCacheFixture(t, mk, 16)
			access, _, err := cf.cached.Issue(cf.ctxA, "alice")
			require.NoError(t, err)
			_, err = cf.cached.Validate(cf.ctxA, access, jwtclaims.Access)
			require.NoError(t, err)
			full := testing.AllocsPerRun(20, func() { _, _ = cf.plain.Validate(cf.ctxA, access, jwtclaims.Access) })
			hit := testing.AllocsPerRun(20, func() { _, _ = cf.cached.Validate(cf.ctxA, access, jwtclaims.Access) })
			assert.LessOrEqual(t, hit, 1.0)
			assert.Greater(t, full, 20.0)
		})
	}
}

// copyingKeys is a KeySource that decodes its keys anew on every lookup,
// as one backed by a database does: equal keys, never the same memory.
type copyingKeys struct{ *jwtclaims.KeySet }

func (k copyingKeys) Key(ctx context.Context, tenantID, kid string) (jwtclaims.Key, error) {
	key, err := k.KeySet.Key(ctx, tenantID, kid)
	switch v := key.Verify.(type) {
	case []byte:
		key.Verify = append([]byte(nil), v...)
	case ed25519.PublicKey:
		key.Verify = append(ed25519.PublicKey(nil), v...)
	}
	return key, err
}

// A KeySource that returns equal keys in new memory still gives hits: the
// key is compared by value.
func TestVerifiedCacheComparesKeysByValue(t *testing.T) {
	for alg, mk := range cacheAlgorithms {
		t.Run(alg+": a key read anew is the same key", func(t *testing.T) {
			cf := newCacheFixture(t, mk, 16)
			auth, err := jwtclaims.New(copyingKeys{cf.keys}, "https://auth.example.com", "crm", jwtclaims.WithVerifiedCache(4))
			require.NoError(t, err)
			access, _, err := auth.Issue(cf.ctxA, "alice")
			require.NoError(t, err)
			_, err = auth.Validate(cf.ctxA, access, jwtclaims.Access)
			require.NoError(t, err)
			hit := testing.AllocsPerRun(20, func() { _, _ = auth.Validate(cf.ctxA, access, jwtclaims.Access) })
			assert.LessOrEqual(t, hit, 3.0, "the claims copy and the key source's copy of the key, boxed")
		})
	}
}

// Concurrent validations of two tenants' tokens on both tenants, through
// a cache small enough to evict all the time, each get their own answer.
func TestVerifiedCacheUnderConcurrency(t *testing.T) {
	cf := newCacheFixture(t, jwtclaims.NewHS256Key, 4)
	var toks [2][]string
	for i, ctx := range []context.Context{cf.ctxA, cf.ctxB} {
		for j := range 6 {
			tok, _, err := cf.cached.Issue(ctx, fmt.Sprint("user-", j))
			require.NoError(t, err)
			toks[i] = append(toks[i], tok)
		}
	}
	ctxs := [2]context.Context{cf.ctxA, cf.ctxB}
	ids := [2]string{cf.a.ID, cf.b.ID}
	errs := make(chan error, 8)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for n := range 300 {
				owner, on := (g+n)%2, (g+n/2)%2
				c, err := cf.cached.Validate(ctxs[on], toks[owner][n%6], jwtclaims.Access)
				switch {
				case owner == on && (err != nil || c.TenantID != ids[on]):
					errs <- fmt.Errorf("own token refused or wrong claims: %v", err)
					return
				case owner != on && !errors.Is(err, jwtclaims.ErrUnknownKey):
					errs <- fmt.Errorf("tenant %d's token on tenant %d: %v", owner, on, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	assert.LessOrEqual(t, jwtclaims.CacheLen(cf.cached), 4)
	cf.keys.Remove(cf.b.ID, "b1")
	for _, tok := range toks[1] {
		_, err := cf.same(t, cf.ctxB, tok, jwtclaims.Access)
		assert.ErrorIs(t, err, jwtclaims.ErrUnknownKey, "B's key was removed")
	}
}

// FuzzVerifiedCache feeds arbitrary tokens and clock moves to an Authority
// with a cache and one without, twice each: the answers must be the same.
func FuzzVerifiedCache(f *testing.F) {
	keys := jwtclaims.NewKeySet()
	a, b := tenanttest.NewTenant("acme"), tenanttest.NewTenant("globex")
	_ = keys.Add(a.ID, jwtclaims.NewEdDSAKey("a1"))
	_ = keys.Add(b.ID, jwtclaims.NewHS256Key("b1"))
	now := time.Now()
	clock := jwtclaims.WithClock(func() time.Time { return now })
	plain, _ := jwtclaims.New(keys, "iss", "crm", clock)
	cached, _ := jwtclaims.New(keys, "iss", "crm", clock, jwtclaims.WithVerifiedCache(8))
	ctxs := []context.Context{tenant.NewContext(context.Background(), a), tenant.NewContext(context.Background(), b)}
	for _, ctx := range ctxs {
		access, refresh, _ := plain.Issue(ctx, "u")
		for _, tok := range []string{access, refresh, access[:len(access)-1], access + "A"} {
			f.Add(tok, int16(0), false)
			f.Add(tok, int16(1000), true)
			f.Add(tok, int16(-40), false)
		}
	}
	f.Fuzz(func(t *testing.T, tok string, move int16, onB bool) {
		ctx := ctxs[0]
		if onB {
			ctx = ctxs[1]
		}
		for _, step := range []time.Duration{0, time.Duration(move) * time.Second} {
			now = now.Add(step)
			for range 2 {
				want, wantErr := plain.Validate(ctx, tok, jwtclaims.Access)
				got, err := cached.Validate(ctx, tok, jwtclaims.Access)
				if (wantErr == nil) != (err == nil) || (err != nil && err.Error() != wantErr.Error()) {
					t.Fatalf("full validation: %v; cache: %v", wantErr, err)
				}
				if err == nil && (got.TenantID != want.TenantID || got.ID != want.ID || !got.ExpiresAt.Equal(want.ExpiresAt.Time)) {
					t.Fatalf("claims differ: %+v, %+v", want, got)
				}
			}
		}
		now = now.Add(-time.Duration(move) * time.Second)
	})
}
