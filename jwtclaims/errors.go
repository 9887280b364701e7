package jwtclaims

import "errors"

// Sentinel errors. Validation errors also wrap golang-jwt's own (such as
// jwt.ErrTokenExpired), so errors.Is works with either.
var (
	// ErrTenantMismatch reports a token whose tenant claim is missing,
	// malformed or not the request's tenant.
	ErrTenantMismatch = errors.New("jwtclaims: token tenant does not match the request tenant")

	// ErrTokenType reports an access token used as a refresh token or
	// the reverse.
	ErrTokenType = errors.New("jwtclaims: wrong token type")

	// ErrUnknownKey reports a kid that names no key of the request's
	// tenant.
	ErrUnknownKey = errors.New("jwtclaims: unknown signing key")

	// ErrKeySource reports that the KeySource failed (its store was
	// unreachable, timed out): the token could not be checked, which says
	// nothing about whether it is valid. Only a KeySource error wrapping
	// ErrUnknownKey means the kid names no key; every other error is
	// wrapped in ErrKeySource. Middleware answers it 503, never 401.
	ErrKeySource = errors.New("jwtclaims: key source failed")

	// ErrInvalidKid reports a kid outside the allowed alphabet.
	ErrInvalidKid = errors.New("jwtclaims: invalid kid")

	// ErrClaims reports a claims object with duplicate or case-variant
	// keys, or a claim of the wrong JSON type.
	ErrClaims = errors.New("jwtclaims: malformed claims")

	// ErrConfig reports an invalid option or key.
	ErrConfig = errors.New("jwtclaims: invalid configuration")
)
