package resolve

import (
	"fmt"
	"net/netip"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"

	"github.com/tenantwall/tenantwall/tenant"
)

// maxRawHost bounds the input Normalize will look at. A DNS name is at most
// 253 bytes; the margin admits a port and IDNA's longer Unicode form.
const maxRawHost = 1024

// profile maps Unicode host names as browsers do (UTS #46 non-transitional
// lookup: case folding, width mapping, full-width and ideographic dots) and
// validates IDNA labels, the Bidi rule and DNS lengths. Hyphen placement is
// left to tenant.ValidateDomain so that ASCII and Unicode input meet the
// same rule ("r3---sn" labels exist in the wild).
var profile = idna.New(
	idna.MapForLookup(),
	idna.BidiRule(),
	idna.Transitional(false),
	idna.VerifyDNSLength(true),
	idna.CheckHyphens(false),
)

// Normalize turns a host as sent by a client (an HTTP Host header, an
// X-Forwarded-Host value, an Origin's host) into the canonical form every
// tenantwall comparison uses: the port removed, one trailing dot dropped,
// lowercased, converted to its IDNA ASCII form, and checked by
// tenant.ValidateDomain. IP literals (ErrIPLiteral), empty hosts, empty
// labels and anything that is not a DNS host name (ErrInvalidHost) are
// refused. It never assumes that net/http validated the Host header.
//
// Normalize is idempotent: Normalize(Normalize(h)) == Normalize(h). Plain
// lowercase ASCII hosts take a fast path that does not allocate.
func Normalize(host string) (string, error) {
	if len(host) > maxRawHost {
		return "", fmt.Errorf("%w %.40q…: longer than %d bytes", ErrInvalidHost, host, maxRawHost)
	}
	h, err := stripPort(host)
	if err != nil {
		return "", err
	}
	// Fast path: already canonical (lowercase LDH, no trailing dot) and
	// no A-label whose Punycode would need checking.
	if tenant.IsDomain(h) && !strings.Contains(h, "xn--") {
		return h, nil
	}
	// Middle path: ASCII that only needs lowercasing or a trailing dot
	// dropped; IDNA maps such input the same way.
	if isASCII(h) {
		l := strings.ToLower(strings.TrimSuffix(h, "."))
		if tenant.IsDomain(l) && !strings.Contains(l, "xn--") {
			return l, nil
		}
	}
	return normalizeSlow(host, h)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// stripPort removes a ":port" suffix. The port must be empty or decimal.
func stripPort(host string) (string, error) {
	i := strings.LastIndexByte(host, ':')
	if i < 0 {
		return host, nil
	}
	if strings.HasPrefix(host, "[") || strings.IndexByte(host[:i], ':') >= 0 {
		// "[::1]:80", "::1": an IPv6 literal, never a tenant.
		return "", fmt.Errorf("%w %q", ErrIPLiteral, host)
	}
	port := host[i+1:]
	if len(port) > 5 {
		return "", fmt.Errorf("%w %q: bad port", ErrInvalidHost, host)
	}
	for j := 0; j < len(port); j++ {
		if port[j] < '0' || port[j] > '9' {
			return "", fmt.Errorf("%w %q: bad port", ErrInvalidHost, host)
		}
	}
	return host[:i], nil
}

func normalizeSlow(raw, h string) (string, error) {
	h = strings.TrimSuffix(h, ".")
	if h == "" {
		return "", fmt.Errorf("%w %q: empty", ErrInvalidHost, raw)
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return "", fmt.Errorf("%w %q", ErrIPLiteral, raw)
	}
	for i := 0; i < len(h); i++ {
		// Control characters, NUL and DEL never belong in a host; IDNA
		// would reject most, but say so plainly.
		if c := h[i]; c < 0x20 || c == 0x7f {
			return "", fmt.Errorf("%w %q: control character", ErrInvalidHost, raw)
		}
	}
	if !utf8.ValidString(h) {
		return "", fmt.Errorf("%w %q: not UTF-8", ErrInvalidHost, raw)
	}
	a, err := profile.ToASCII(h)
	if err != nil {
		return "", fmt.Errorf("%w %q: %w", ErrInvalidHost, raw, err)
	}
	// The result must be a fixed point, or a later comparison of the
	// stored form with a fresh normalisation could disagree.
	if again, err := profile.ToASCII(a); err != nil || again != a {
		return "", fmt.Errorf("%w %q: no stable ASCII form", ErrInvalidHost, raw)
	}
	// Mapping may have produced a trailing dot (a full-width one at the
	// end) or an address ("１２７.０.０.１").
	if _, err := netip.ParseAddr(strings.TrimSuffix(a, ".")); err == nil {
		return "", fmt.Errorf("%w %q", ErrIPLiteral, raw)
	}
	if err := tenant.ValidateDomain(a); err != nil {
		return "", fmt.Errorf("%w %q: %w", ErrInvalidHost, raw, err)
	}
	return a, nil
}
