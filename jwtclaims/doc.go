// Package jwtclaims binds JSON Web Tokens to a tenant: tokens carry the
// tenant (tenant_id and tenant_slug claims, as in the source plan) and an
// audience naming it, are signed with the tenant's own keys, and validate
// only on requests resolved to that tenant. It is built on
// github.com/golang-jwt/jwt/v5.
//
//	keys := jwtclaims.NewKeySet()
//	_ = keys.Add(acme.ID, jwtclaims.NewEdDSAKey("2026-11"))
//	auth, _ := jwtclaims.New(keys, "https://crm.example.com", "crm")
//	access, refresh, _ := auth.Issue(ctx, userID)        // ctx carries the tenant
//	mux.Handle("/api/", auth.Middleware(api))            // Bearer tokens, 401 otherwise
//
// # Security
//
// Validation follows RFC 8725: the algorithm comes from the key, never
// from the token (so "none" and HS/RS confusion cannot work); the kid is
// checked against a strict alphabet and looked up among the request
// tenant's keys only, so a key of tenant A can never validate a token on
// tenant B; exp is required; iss and aud are checked, the audience being
// "<service>:<tenant ID>"; clock skew is bounded by a small leeway; and the
// tenant_id claim must be a string equal to the request's tenant — null,
// numbers, arrays, duplicate keys and case variants ("Tenant_ID", which
// encoding/json would accept) are refused. A token of another tenant
// gives ErrTenantMismatch and is reported to the auditor. A token with a
// crit header is refused, since no extension is understood. Access and
// refresh tokens are not interchangeable, and Validate takes only Access
// or Refresh as the wanted type. KeySet admits a key only in its
// algorithm's exact shape (P-256 for ES256, a full Ed25519 key, a signing
// half that pairs with the verifying half).
//
// # Verified-token cache
//
// WithVerifiedCache(n) makes an Authority remember up to n tokens it has
// validated in full, found by the request's tenant and the SHA-256
// digest of the token, so that a client's next requests skip the
// signature check (the most expensive step: ~73 µs for Ed25519). A hit
// gives exactly the answer the full validation would: the kid is looked up
// again in the KeySource and must still name the very key the signature
// was checked with (a key removed or replaced, or a failing KeySource,
// counts at once); the token's exp, nbf and iat bounds, with the leeway,
// are checked as golang-jwt checks them; and the wanted type is checked
// again. Any doubt falls through to the full validation, and only
// successes are remembered. A token remembered on one tenant is not even
// looked up on another. It cannot revoke a single token before exp — no
// more than the full validation can — and a KeySource that caches keys
// itself honours a revocation when its own cache does. The cache is
// bounded (an expired, else a random entry is evicted) and safe for
// concurrent use.
//
// # Errors
//
// ErrTenantMismatch, ErrTokenType, ErrUnknownKey, ErrInvalidKid,
// ErrClaims and ErrConfig; validation errors also wrap golang-jwt's, so
// errors.Is(err, jwt.ErrTokenExpired) works. ErrKeySource is not about
// the token: the KeySource failed (any error of it but ErrUnknownKey), so
// the token could not be checked; Middleware answers it 503 with
// Retry-After, and a handler calling Validate, Issue or Refresh should
// too, never 401.
//
// # Under faults
//
// A KeySource that fails makes Validate, Issue and Refresh fail with
// ErrKeySource: no token is admitted, and none is called invalid.
//
// # Testing
//
// The tests table the RFC 8725 attacks and the tenant-claim forgeries;
// FuzzValidate feeds arbitrary tokens to the validator. The cache tests
// compare every answer of a cached Authority with an uncached one (another
// tenant, expiry, a clock set back, keys removed, replaced or failing, the
// tenant removed, a tampered token, a full cache, concurrent use), and FuzzVerifiedCache does
// so for arbitrary tokens and clock moves.
package jwtclaims
