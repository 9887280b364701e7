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
	TenantID   string `json:"tenant_id"`             // the tenant's ID, checked against the request's
	TenantSlug string `json:"tenant_slug,omitempty"` // informational: the slug may be renamed
	Type       string `json:"typ"`                   // Access or Refresh
}

var _ jwt.Claims = (*Claims)(nil)

// strictKeys are the claims Claims decodes. encoding/json matches object
// keys to them with bytes.EqualFold — so "Tenant_ID", and also "ſub" (a
// long s) or a Kelvin-sign K, land in the same field — and keeps the last
// of several: a forged value could slip past whoever read the first. The
// first three must also be strings.
var strictKeys = [...]string{"tenant_id", "tenant_slug", "typ", "iss", "sub", "aud", "exp", "nbf", "iat", "jti"}

var strictKeyBytes = func() (out [len(strictKeys)][]byte) {
	for i, k := range strictKeys {
		out[i] = []byte(k)
	}
	return out
}()

// checkClaimsJSON scans a claims object without decoding it and refuses
// every key encoding/json would decode into one of the claims tenantwall
// reads unless it is that claim's exact name, appearing once; and a
// tenant_id, tenant_slug or typ that is not a string. Other keys are left
// alone: they decode into nothing. It does not allocate unless a key is
// written with escapes.
func checkClaimsJSON(data []byte) error {
	var seen uint16 // bit i: strictKeys[i] was present
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
		if escaped {
			// A copy, so that data itself never escapes to the heap.
			var s string
			if err := json.Unmarshal(append([]byte(nil), data[i:end]...), &s); err != nil {
				return fmt.Errorf("%w: %w", ErrClaims, err)
			}
			key = []byte(s)
		}
		strict := false
		if si := matchStrict(key); si >= 0 {
			switch {
			case string(key) != strictKeys[si]:
				return fmt.Errorf("%w: claim %q is a variant of %q", ErrClaims, string(key), strictKeys[si])
			case seen&(1<<si) != 0:
				return fmt.Errorf("%w: duplicate claim %q", ErrClaims, strictKeys[si])
			}
			seen |= 1 << si
			strict = si < 3
		}
		i = skipWS(data, end)
		if i >= len(data) || data[i] != ':' {
			return fmt.Errorf("%w: expected ':'", ErrClaims)
		}
		i = skipWS(data, i+1)
		if strict && (i >= len(data) || data[i] != '"') {
			return fmt.Errorf("%w: claim %q must be a string", ErrClaims, string(key))
		}
		if i = skipValue(data, i); i < 0 {
			return fmt.Errorf("%w: malformed value of %q", ErrClaims, string(key))
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

// matchStrict returns the index of the strict claim key folds to (as
// encoding/json would match it), or -1.
func matchStrict(key []byte) int {
	var lower [16]byte
	if len(key) <= len(lower) {
		ascii := true
		for i, c := range key {
			if c >= utf8.RuneSelf {
				ascii = false
				break
			}
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			lower[i] = c
		}
		if ascii {
			// ASCII folds byte for byte: one switch instead of ten
			// comparisons.
			switch string(lower[:len(key)]) {
			case "tenant_id":
				return 0
			case "tenant_slug":
				return 1
			case "typ":
				return 2
			case "iss":
				return 3
			case "sub":
				return 4
			case "aud":
				return 5
			case "exp":
				return 6
			case "nbf":
				return 7
			case "iat":
				return 8
			case "jti":
				return 9
			}
			return -1
		}
	}
	for si, k := range strictKeyBytes {
		if bytes.EqualFold(key, k) {
			return si
		}
	}
	return -1
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
	// Fast path: the next quote, with no backslash before it.
	if q := bytes.IndexByte(b[i+1:], '"'); q >= 0 && bytes.IndexByte(b[i+1:i+1+q], '\\') < 0 {
		return i + 2 + q, false
	}
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
