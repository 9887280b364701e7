package tenanttest

import (
	"fmt"
	"net/http"
	"strings"
)

// CheckCookies checks Set-Cookie header values the way the HTTP suite
// does: every cookie set (not deleted) must be host-only (no Domain, or a
// sibling tenant's host receives it), HttpOnly, and Secure unless
// allowInsecure. It returns the first problem, naming the cookie; use it
// on the answer of a sign-in inside HTTPSuite.Tenants.
func CheckCookies(setCookie []string, allowInsecure bool) error {
	for _, raw := range setCookie {
		c, err := http.ParseSetCookie(raw)
		if err != nil {
			return fmt.Errorf("Set-Cookie %q: %w", raw, err)
		}
		if c.MaxAge < 0 || c.Value == "" {
			continue // a deletion
		}
		lower := strings.ToLower(raw)
		switch {
		case c.Domain != "" || strings.Contains(lower, "; domain="):
			return fmt.Errorf("cookie %s has Domain=%s: it is sent to every subdomain, other tenants included", c.Name, c.Domain)
		case !c.HttpOnly:
			return fmt.Errorf("cookie %s is not HttpOnly", c.Name)
		case !c.Secure && !allowInsecure:
			return fmt.Errorf("cookie %s is not Secure", c.Name)
		}
	}
	return nil
}
