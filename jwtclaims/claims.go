package jwtclaims

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// Token types, in the "typ" claim.
const (
	Access  = "access"
	Refresh = "refresh"
)

// Claims are the registered claims plus the tenant, as the source plan's
// token carries it (tenant_id, tenant_slug), and the token type.
type Claims struct {
	jwt.RegisteredClaims
	TenantID   string `json:"tenant_id"`
	TenantSlug string `json:"tenant_slug,omitempty"`
	Type       string `json:"typ"`
}

var _ jwt.Claims = (*Claims)(nil)

// strictKeys are claims whose every spelling must be exactly one, and a
// string: encoding/json would otherwise match "Tenant_ID" to tenant_id,
// and keep the last of duplicates, letting a forged value slip past
// whoever read the first.
var strictKeys = []string{"tenant_id", "tenant_slug", "typ", "iss", "sub", "aud", "exp", "nbf", "iat", "jti"}

// UnmarshalJSON refuses duplicate keys, case variants of the claims
// tenantwall reads, and a tenant_id, tenant_slug or typ that is not a
// string.
func (c *Claims) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return fmt.Errorf("%w: not a JSON object", ErrClaims)
	}
	seen := make(map[string]bool, 12)
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return fmt.Errorf("%w: %w", ErrClaims, err)
		}
		key := kt.(string)
		if seen[key] {
			return fmt.Errorf("%w: duplicate claim %q", ErrClaims, key)
		}
		seen[key] = true
		for _, k := range strictKeys {
			if key != k && strings.EqualFold(key, k) {
				return fmt.Errorf("%w: claim %q is a case variant of %q", ErrClaims, key, k)
			}
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return fmt.Errorf("%w: claim %q: %w", ErrClaims, key, err)
		}
		if (key == "tenant_id" || key == "tenant_slug" || key == "typ") && (len(raw) == 0 || raw[0] != '"') {
			return fmt.Errorf("%w: claim %q must be a string", ErrClaims, key)
		}
	}
	type plain Claims // no UnmarshalJSON: no recursion
	return json.Unmarshal(data, (*plain)(c))
}
