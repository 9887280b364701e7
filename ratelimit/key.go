package ratelimit

import (
	"fmt"

	"github.com/tenantwall/tenantwall/tenant"
)

// MaxUserLen bounds a user ID, in bytes.
const MaxUserLen = 256

// keyPrefix starts every limiter key. A key is
//
//	tw:rl:<tenant ID>:t                  the tenant's own limit
//	tw:rl:<tenant ID>:u:<escaped user>   one user's limit in the tenant
//	tw:rl:<tenant ID>:a                  the tenant's anonymous requests (Policy.Anonymous)
//
// The tenant ID is a canonical UUID (36 bytes, no ':'), so the tenant of a
// key is always bytes 6 to 42, and user IDs are escaped so that no byte
// outside [A-Za-z0-9._-] appears raw: no user ID can end one tenant's
// namespace and start another's, and two user IDs never share a key.
const keyPrefix = "tw:rl:"

func tenantKey(id string) (string, error) {
	if err := tenant.ValidateID(id); err != nil {
		return "", err
	}
	return keyPrefix + id + ":t", nil
}

func anonymousKey(id string) (string, error) {
	if err := tenant.ValidateID(id); err != nil {
		return "", err
	}
	return keyPrefix + id + ":a", nil
}

func userKey(id, user string) (string, error) {
	if err := tenant.ValidateID(id); err != nil {
		return "", err
	}
	if user == "" || len(user) > MaxUserLen {
		return "", fmt.Errorf("%w: %d bytes", ErrInvalidUser, len(user))
	}
	b := make([]byte, 0, len(keyPrefix)+len(id)+3+len(user)*3)
	b = append(b, keyPrefix...)
	b = append(b, id...)
	b = append(b, ":u:"...)
	return string(escape(b, user)), nil
}

const hexDigits = "0123456789ABCDEF"

// escape appends s with every byte outside [A-Za-z0-9._-] written as %XX:
// injective, and the result holds no ':', '{', '}', '*', space or control
// byte.
func escape(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-' {
			b = append(b, c)
			continue
		}
		b = append(b, '%', hexDigits[c>>4], hexDigits[c&15])
	}
	return b
}
