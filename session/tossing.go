package session

import (
	"net"
	"net/http"
	"strings"
	"time"
)

// A page on a sibling subdomain can set a cookie of the session's name
// for the parent domain (Domain=example.com), and the browser then sends
// it with every request to the tenant's host, next to the real one.
// Middleware refuses such a request (it cannot tell which cookie is the
// tenant's own), and without more the browser would keep the planted
// cookie, for as long as the sibling chose: the person would be refused on
// every page, sign-in included. So the refusal also expires the name on
// the host and on each parent domain, at Path=/ and at each ancestor of
// the request's path, which removes a cookie planted at any of them; the
// person then signs in again. A __Host- cookie cannot be set for another
// host or path, so over TLS there is nothing to toss and nothing is
// cleared but the host's own cookie.

// Bounds on what clearTossed writes: cookies are deleted for at most this
// many parent domains and path ancestors.
const (
	maxTossDomains = 8
	maxTossPaths   = 8
)

// clearTossed expires the request's session cookie name wherever a
// cookie that the request carried could have been set.
func (m *Manager) clearTossed(w http.ResponseWriter, r *http.Request) {
	name := m.cookieName(r)
	domains := []string{""} // host-only
	paths := []string{"/"}
	if !strings.HasPrefix(name, "__Host-") {
		domains = append(domains, parentDomains(r.Host)...)
		paths = append(paths, pathAncestors(r.URL.Path)...)
	}
	for _, d := range domains {
		for _, p := range paths {
			c := m.cookie(r, "", time.Unix(0, 0))
			c.Domain, c.Path, c.MaxAge = d, p, -1
			http.SetCookie(w, c)
		}
	}
}

// parentDomains returns host (without its port) and each domain above it
// with at least two labels, longest first; none for an IP address. A
// browser ignores a deletion for a public suffix, as it refused to set a
// cookie there.
func parentDomains(host string) []string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "" || net.ParseIP(host) != nil || !cookieSafe(host, "-.") {
		return nil
	}
	var out []string
	for len(out) < maxTossDomains && strings.Contains(host, ".") {
		out = append(out, host)
		host = host[strings.IndexByte(host, '.')+1:]
	}
	return out
}

// pathAncestors returns the cookie paths a cookie sent with a request for
// p may have: "/a", "/a/", "/a/b", … up to p itself.
func pathAncestors(p string) []string {
	if !cookieSafe(p, "-._~/!$&'()*+,=:@%") {
		return nil // "/" alone: net/http would rewrite such a path
	}
	var out []string
	for i := 1; i < len(p) && len(out) < 2*maxTossPaths; i++ {
		if p[i] == '/' {
			out = append(out, p[:i], p[:i+1])
		}
	}
	if len(p) > 1 && !strings.HasSuffix(p, "/") && len(out) < 2*maxTossPaths {
		out = append(out, p)
	}
	return out
}

// cookieSafe reports whether s has only ASCII letters, digits and the
// bytes of extra, so that net/http writes it into a cookie unchanged.
func cookieSafe(s, extra string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(extra, c) >= 0) {
			return false
		}
	}
	return true
}
