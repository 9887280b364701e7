package credentials

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
)

// WithHosts binds provider's credentials to the hosts of its API, such as
// "api.openai.com" or "api.elevenlabs.io": Transport adds the credential
// only to https requests for exactly one of them, and refuses every other
// request (redirects included) with ErrHost. A provider without hosts has
// none: Transport refuses all its requests.
//
// Each host is an ASCII DNS name (IDNs in their xn-- form) or an IP
// literal in canonical form (IPv6 in brackets when a port follows), with
// an optional decimal port; without a port it means 443. It is compared
// with the request's host case-insensitively and otherwise byte for byte:
// no trailing dot, wildcard, subdomain, parent domain or other port
// matches. Anything else (a scheme, a path, userinfo, a zone, a
// non-canonical IP, an all-numeric top label) is refused with ErrConfig.
// Repeated calls add hosts.
func WithHosts(provider string, hosts ...string) Option {
	return func(v *options) error {
		if err := ValidateProvider(provider); err != nil {
			return err
		}
		if len(hosts) == 0 {
			return fmt.Errorf("%w: no hosts for %s", ErrConfig, provider)
		}
		set := v.hosts[provider]
		if set == nil {
			set = map[string]bool{}
			v.hosts[provider] = set
		}
		for _, h := range hosts {
			c, err := configHost(h)
			if err != nil {
				return fmt.Errorf("%w: host %q for %s: %w", ErrConfig, h, provider, err)
			}
			set[c] = true
		}
		return nil
	}
}

// checkDestination returns the canonical host:port a request goes to if
// provider's credential may go there, and ErrHost naming it otherwise.
// Only "https" requests qualify; userinfo, an opaque URL, a Host header
// other than the URL's host, non-ASCII bytes, and a host or port that is
// not in canonical form are refused rather than interpreted.
func (v *Vault) checkDestination(provider string, req *http.Request) error {
	u := req.URL
	if u == nil {
		return fmt.Errorf("%w: %s: request without URL", ErrHost, provider)
	}
	if u.Scheme != "https" {
		return fmt.Errorf("%w: %s: scheme %q (only https carries a credential)", ErrHost, provider, u.Scheme)
	}
	if u.User != nil || u.Opaque != "" {
		return fmt.Errorf("%w: %s: URL with userinfo or opaque part", ErrHost, provider)
	}
	if req.Host != "" && !strings.EqualFold(req.Host, u.Host) {
		return fmt.Errorf("%w: %s: Host header %.100q differs from URL host %.100q", ErrHost, provider, req.Host, u.Host)
	}
	dest, err := requestHost(u.Host, u.Hostname(), u.Port())
	if err != nil {
		return fmt.Errorf("%w: %s: host %.100q: %w", ErrHost, provider, u.Host, err)
	}
	if !v.hosts[provider][dest] {
		return fmt.Errorf("%w: %s: host %.100q is not one of its hosts", ErrHost, provider, dest)
	}
	return nil
}

// requestHost canonicalises a URL host (raw, as in url.URL.Host, with its
// hostname and port) to lowercase host:port, refusing any spelling that
// does not round-trip: a trailing ':', non-ASCII bytes, a port with a
// sign or leading zero.
func requestHost(raw, hostname, port string) (string, error) {
	for i := 0; i < len(raw); i++ {
		if raw[i] >= 0x80 || raw[i] <= ' ' || raw[i] == 0x7f {
			return "", fmt.Errorf("byte %q is not allowed (use the xn-- form of IDNs)", raw[i])
		}
	}
	want := hostname
	if strings.Contains(hostname, ":") {
		want = "[" + hostname + "]"
	}
	if port != "" {
		want += ":" + port
	}
	if raw == "" || raw != want {
		return "", fmt.Errorf("not in canonical host[:port] form")
	}
	p, err := checkPort(port)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(strings.ToLower(hostname), p), nil
}

// configHost validates and canonicalises one WithHosts entry.
func configHost(s string) (string, error) {
	host, port := s, ""
	if addr, err := netip.ParseAddr(s); err == nil && addr.Is6() {
		host = s // a bare IPv6 literal: its colons are not a port
	} else if strings.Contains(s, ":") {
		h, p, err := net.SplitHostPort(s)
		if err != nil {
			return "", err
		}
		if p == "" {
			return "", fmt.Errorf("empty port")
		}
		host, port = h, p
	} else if strings.HasPrefix(s, "[") {
		return "", fmt.Errorf("bracketed host without port")
	}
	p, err := checkPort(port)
	if err != nil {
		return "", err
	}
	host = strings.ToLower(host)
	if addr, err := netip.ParseAddr(host); err == nil {
		if addr.Zone() != "" || addr.String() != host {
			return "", fmt.Errorf("IP literal not in canonical form (%s)", addr.WithZone(""))
		}
		return net.JoinHostPort(host, p), nil
	}
	if err := checkDNSName(host); err != nil {
		return "", err
	}
	return net.JoinHostPort(host, p), nil
}

// checkPort validates a decimal port without sign or leading zero and
// returns it, or "443" for none.
func checkPort(port string) (string, error) {
	if port == "" {
		return "443", nil
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
		return "", fmt.Errorf("port %q is not a decimal 1 to 65535", port)
	}
	return port, nil
}

// checkDNSName allows lowercase ASCII letter-digit-hyphen labels of 1 to
// 63 bytes without edge hyphens, at most 253 bytes, no trailing dot, and a
// top label that is not all digits (which resolvers read as an IPv4
// address in some spelling).
func checkDNSName(host string) error {
	if host == "" || len(host) > 253 {
		return fmt.Errorf("want 1 to 253 bytes")
	}
	labels := strings.Split(host, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return fmt.Errorf("label %q is not a DNS label", l)
		}
		for i := 0; i < len(l); i++ {
			if c := l[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return fmt.Errorf("byte %q in label %q (use the xn-- form of IDNs)", c, l)
			}
		}
	}
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return fmt.Errorf("all-numeric top label")
	}
	return nil
}
