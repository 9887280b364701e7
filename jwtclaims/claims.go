package jwtclaims

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"

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

// strictKeys are claims whose every spelling must appear at most once:
// encoding/json would match "Tenant_ID" to tenant_id, and keep the last
// of duplicates, letting a forged value slip past whoever read the first.
var strictKeys = [...]string{"tenant_id", "tenant_slug", "typ", "iss", "sub", "aud", "exp", "nbf", "iat", "jti"}

// CheckClaimsJSON scans a claims object without decoding it and refuses
// duplicate keys, case variants of the claims tenantwall reads, and a
// tenant_id, tenant_slug or typ that is not a string. It allocates only
// for keys written with escapes.
func CheckClaimsJSON(data []byte) error {
	var keys [32][]byte
	n := 0
	i := skipWS(data, 0)
	if i >= len(data) || data[i] != '{' {
		return fmt.Errorf("%w: not a JSON object", ErrClaims)
	}
	i = skipWS(data, i+1)
	if i < len(data) && data[i] == '}' {
		return endOfObject(data, i+1)
	}
	for {
		if i >= len(data) || data[i] != '"' {
			return fmt.Errorf("%w: expected a key", ErrClaims)
		}
		end, escaped := scanString(data, i)
		if end < 0 {
			return fmt.Errorf("%w: unterminated key", ErrClaims)
		}
		key := data[i+1 : end-1]
		if !utf8.Valid(key) {
			// encoding/json would map invalid bytes to U+FFFD, making
			// distinct raw keys equal; refuse rather than guess.
			return fmt.Errorf("%w: claim name is not UTF-8", ErrClaims)
		}
		if escaped {
			var s string
			if err := json.Unmarshal(data[i:end], &s); err != nil {
				return fmt.Errorf("%w: %w", ErrClaims, err)
			}
			key = []byte(s)
		}
		for _, k := range keys[:min(n, len(keys))] {
			if bytes.Equal(k, key) {
				return fmt.Errorf("%w: duplicate claim %q", ErrClaims, key)
			}
		}
		if n < len(keys) {
			keys[n] = key
		} else {
			return fmt.Errorf("%w: more than %d claims", ErrClaims, len(keys))
		}
		n++
		strict := false
		for _, k := range strictKeys {
			if len(k) == len(key) && bytes.EqualFold(key, []byte(k)) {
				if string(key) != k {
					return fmt.Errorf("%w: claim %q is a case variant of %q", ErrClaims, key, k)
				}
				strict = k == "tenant_id" || k == "tenant_slug" || k == "typ"
			}
		}
		i = skipWS(data, end)
		if i >= len(data) || data[i] != ':' {
			return fmt.Errorf("%w: expected ':'", ErrClaims)
		}
		i = skipWS(data, i+1)
		if strict && (i >= len(data) || data[i] != '"') {
			return fmt.Errorf("%w: claim %q must be a string", ErrClaims, key)
		}
		if i = skipValue(data, i); i < 0 {
			return fmt.Errorf("%w: malformed value of %q", ErrClaims, key)
		}
		i = skipWS(data, i)
		if i < len(data) && data[i] == ',' {
			i = skipWS(data, i+1)
			continue
		}
		if i < len(data) && data[i] == '}' {
			return endOfObject(data, i+1)
		}
		return fmt.Errorf("%w: expected ',' or '}'", ErrClaims)
	}
}

// endOfObject refuses anything but white space after the object.
func endOfObject(b []byte, i int) error {
	if skipWS(b, i) != len(b) {
		return fmt.Errorf("%w: data after the claims object", ErrClaims)
	}
	return nil
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// scanString returns the index past the string starting at b[i] == '"',
// or -1, and whether it holds escapes.
func scanString(b []byte, i int) (int, bool) {
	escaped := false
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			escaped = true
			j++
		case '"':
			return j + 1, escaped
		}
	}
	return -1, escaped
}

// skipValue returns the index past the JSON value at b[i], or -1.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		end, _ := scanString(b, i)
		return end
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, _ := scanString(b, j)
				if end < 0 {
					return -1
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	default:
		j := i
		for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\n' && b[j] != '\t' && b[j] != '\r' {
			j++
		}
		if j == i {
			return -1
		}
		return j
	}
}
