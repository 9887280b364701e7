package resolve

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// trustedPeer reports whether the request's immediate peer is inside one of
// the trusted proxy prefixes.
func (r *Resolver) trustedPeer(req *http.Request) bool {
	if len(r.trusted) == 0 {
		return false
	}
	ap, err := netip.ParseAddrPort(req.RemoteAddr)
	if err != nil {
		addr, err2 := netip.ParseAddr(req.RemoteAddr)
		if err2 != nil {
			return false
		}
		ap = netip.AddrPortFrom(addr, 0)
	}
	a := ap.Addr().Unmap()
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// forwardedHost returns the host a trusted proxy forwarded: the host= of the
// last element of the last Forwarded header (RFC 7239) and the last
// X-Forwarded-Host value. The last is the one the trusted peer wrote;
// earlier ones came from further away, possibly from the client.
//
// A proxy writes one of these headers and may pass the other through from
// the client untouched, and nothing in the request says which it wrote. So
// when both name a host they must name the same one; and a forwarding
// header that is present but cannot be read (a malformed Forwarded, an
// empty X-Forwarded-Host) is an error, never skipped in favour of the next
// source. It reports false when neither header names a host.
func forwardedHost(h http.Header) (string, bool, error) {
	var fwHost, xfHost string
	if fw := h.Values("Forwarded"); len(fw) > 0 {
		host, found, err := parseForwarded(fw[len(fw)-1])
		if err != nil {
			return "", false, fmt.Errorf("%w: Forwarded %.100q: %w", ErrInvalidHost, fw[len(fw)-1], err)
		}
		if found {
			fwHost = host
		}
	}
	if xf := h.Values("X-Forwarded-Host"); len(xf) > 0 {
		last := xf[len(xf)-1]
		if i := strings.LastIndexByte(last, ','); i >= 0 {
			last = last[i+1:]
		}
		if xfHost = strings.TrimSpace(last); xfHost == "" {
			return "", false, fmt.Errorf("%w: X-Forwarded-Host %.100q: empty last value", ErrInvalidHost, xf[len(xf)-1])
		}
	}
	switch {
	case fwHost == "" && xfHost == "":
		return "", false, nil
	case xfHost == "":
		return fwHost, true, nil
	case fwHost == "":
		return xfHost, true, nil
	}
	a, err := Normalize(fwHost)
	if err != nil {
		return "", false, fmt.Errorf("%w: Forwarded host=: %w", ErrInvalidHost, err)
	}
	b, err := Normalize(xfHost)
	if err != nil {
		return "", false, fmt.Errorf("%w: X-Forwarded-Host: %w", ErrInvalidHost, err)
	}
	if a != b {
		return "", false, fmt.Errorf("%w: Forwarded host=%q and X-Forwarded-Host %q disagree", ErrInvalidHost, a, b)
	}
	return a, true, nil
}

// parseForwarded returns the host parameter of the last element of a
// Forwarded header value (RFC 7239), unquoting a quoted-string. It tells a
// malformed value (an error wrapping errForwarded) from a last element
// without host (found false). The result is raw: pass it to Normalize.
func parseForwarded(v string) (host string, found bool, err error) {
	elems := splitQuoted(v, ',')
	if len(elems) == 0 {
		return "", false, fmt.Errorf("%w: unterminated quoted string", errForwarded)
	}
	for _, pair := range splitQuoted(elems[len(elems)-1], ';') {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		k, val, ok := strings.Cut(pair, "=")
		if !ok || !isToken(k, "") {
			return "", false, fmt.Errorf("%w: parameter %.40q", errForwarded, pair)
		}
		if !strings.EqualFold(k, "host") {
			continue
		}
		if found {
			return "", false, fmt.Errorf("%w: two host parameters in one element", errForwarded)
		}
		if strings.HasPrefix(val, `"`) {
			u, ok := unquote(val)
			if !ok {
				return "", false, fmt.Errorf("%w: host %.100q", errForwarded, val)
			}
			val = u
		} else if !isToken(val, ":[]") {
			return "", false, fmt.Errorf("%w: host %.100q", errForwarded, val)
		}
		if val == "" {
			return "", false, fmt.Errorf("%w: empty host", errForwarded)
		}
		host, found = val, true
	}
	return host, found, nil
}

// splitQuoted splits s at sep outside double-quoted strings. It returns nil
// for an unterminated quote.
func splitQuoted(s string, sep byte) []string {
	var out []string
	inQuote, start := false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case inQuote && c == '\\':
			i++
		case c == '"':
			inQuote = !inQuote
		case !inQuote && c == sep:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	if inQuote {
		return nil
	}
	return append(out, s[start:])
}

func unquote(s string) (string, bool) {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return "", false
	}
	s = s[1 : len(s)-1]
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' {
			if i+1 == len(s) {
				return "", false
			}
			i++
			c = s[i]
		} else if c == '"' {
			return "", false
		}
		if c < 0x20 || c == 0x7f {
			return "", false
		}
		b.WriteByte(c)
	}
	return b.String(), true
}

// isToken reports whether s is an RFC 7230 token, allowing the bytes in
// extra as well (unquoted host values carry ':' in practice).
func isToken(s, extra string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) && !strings.ContainsRune(extra, rune(c)) {
			return false
		}
	}
	return true
}
