package tenant

import (
	"fmt"
	"strings"
	"sync"
)

// maxSlugLen is the longest slug: one DNS label.
const maxSlugLen = 63

// defaultReserved are names that must never be a tenant, because they name
// the platform's own hosts or would be mistaken for them.
var defaultReserved = []string{
	"www", "api", "admin", "app", "mail", "static", "media", "assets", "cdn",
	"auth", "login", "logout", "sso", "oauth", "account", "accounts",
	"billing", "dashboard", "docs", "help", "support", "status", "blog",
	"dev", "staging", "test", "internal", "localhost", "platform", "root",
	"system", "smtp", "imap", "pop", "ftp", "ns1", "ns2", "mx", "webmail",
	"autoconfig", "autodiscover", "ws", "wss", "socket", "public", "tenant",
	"tenants", "operator", "_acme-challenge",
}

var reserved = struct {
	sync.RWMutex
	m map[string]struct{}
}{m: make(map[string]struct{})}

func init() {
	for _, s := range defaultReserved {
		reserved.m[s] = struct{}{}
	}
}

// Reserve adds names to the process-wide reserved list, which ValidateSlug
// refuses and resolve never maps to a tenant. Call it at start-up, before
// tenants are created or requests are served; names are lowercased. It is
// safe for concurrent use.
func Reserve(names ...string) {
	reserved.Lock()
	defer reserved.Unlock()
	for _, n := range names {
		reserved.m[strings.ToLower(n)] = struct{}{}
	}
}

// isReserved reports whether name is on the reserved list. Users ask
// ValidateSlug, the one slug validator, which also checks the rest.
func isReserved(name string) bool {
	reserved.RLock()
	_, ok := reserved.m[name]
	reserved.RUnlock()
	return ok
}

// ValidateSlug checks s against the slug rules: 1 to 63 characters of
// lowercase a-z, 0-9 and hyphen; no leading or trailing hyphen; no "xn--"
// prefix (which would make the subdomain an IDNA label); not reserved.
// The error wraps ErrInvalidSlug (and ErrReservedSlug for a reserved name)
// and says which rule s breaks. Slugs are never normalised: "Acme" is an
// error, not "acme".
func ValidateSlug(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%w: empty", ErrInvalidSlug)
	case len(s) > maxSlugLen:
		return fmt.Errorf("%w %.20q…: longer than %d characters", ErrInvalidSlug, s, maxSlugLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' {
			continue
		}
		if 'A' <= c && c <= 'Z' {
			return fmt.Errorf("%w %q: uppercase letter at byte %d (slugs are lowercase)", ErrInvalidSlug, s, i)
		}
		return fmt.Errorf("%w %q: character %q at byte %d (only a-z, 0-9 and '-')", ErrInvalidSlug, s, c, i)
	}
	switch {
	case s[0] == '-' || s[len(s)-1] == '-':
		return fmt.Errorf("%w %q: leading or trailing hyphen", ErrInvalidSlug, s)
	case strings.HasPrefix(s, "xn--"):
		return fmt.Errorf("%w %q: the xn-- prefix is for IDNA labels", ErrInvalidSlug, s)
	case isReserved(s):
		return fmt.Errorf("%w %q: %w", ErrInvalidSlug, s, ErrReservedSlug)
	}
	return nil
}
