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
// FuzzValidate feeds arbitrary tokens to the validator.
package jwtclaims
