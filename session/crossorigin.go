package session

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/tenantwall/tenantwall/tenant"
)

// Tenant subdomains of one base domain are same-site to each other, so a
// SameSite=Lax cookie rides along on a simple POST that a page of a
// sibling tenant sends. SameSite cannot tell tenants apart; the browser's
// Sec-Fetch-Site (and, for older browsers, Origin) headers can, and
// net/http.CrossOriginProtection reads them. Middleware applies it to every
// unsafe request before any cookie is read.

func denyCrossOrigin(w http.ResponseWriter, _ *http.Request) {
	http.Error(w, "cross-origin request refused", http.StatusForbidden)
}

// hasBearer reports whether the request carries exactly one Authorization
// header with the Bearer scheme. Browsers never attach such a header on
// their own and a cross-origin page can set it only after a CORS
// preflight, so it cannot be forged by another tenant's page — unlike
// Basic credentials, which a browser may replay by itself.
func hasBearer(r *http.Request) bool {
	v := r.Header.Values("Authorization")
	if len(v) != 1 {
		return false
	}
	scheme, tok, ok := strings.Cut(v[0], " ")
	return ok && strings.EqualFold(scheme, "Bearer") && strings.TrimSpace(tok) != ""
}

func (m *Manager) auditCrossOrigin(r *http.Request, err error) {
	id, _ := tenant.IDFromContext(r.Context())
	origin := r.Header.Get("Origin")
	if len(origin) > 200 {
		origin = origin[:200] + "…"
	}
	site := r.Header.Get("Sec-Fetch-Site")
	if len(site) > 32 {
		site = site[:32] + "…"
	}
	m.auditor.Audit(r.Context(), tenant.Event{Kind: tenant.EventCrossTenant, Package: "session", TenantID: id,
		Resource: "cross-origin " + r.Method + " from origin " + strconv.Quote(origin) + ", Sec-Fetch-Site " + strconv.Quote(site),
		Err:      err})
}

// checkOrigin accepts only an origin in the exact serialisation browsers
// send, since trusted origins are compared byte for byte with the header:
// one that is spelled otherwise would never match, and a silent no-op in a
// security setting is a bug.
func checkOrigin(o string) error {
	if why := originProblem(o); why != "" {
		return fmt.Errorf("%w: WithTrustedOrigins: origin %q: %s", ErrConfig, o, why)
	}
	return nil
}

// originProblem says what is wrong with o as a browser's Origin, or "".
func originProblem(o string) string {
	u, err := url.Parse(o)
	if err != nil {
		return err.Error()
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "scheme must be http or https"
	}
	if u.User != nil || u.Opaque != "" || u.Path != "" || u.RawPath != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return "an origin is scheme://host[:port] only"
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		return "host is required"
	}
	for i := 0; i < len(host); i++ {
		if c := host[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == ':') {
			return "host must be lowercase ASCII (punycode for IDN)"
		}
	}
	canon := u.Scheme + "://"
	switch {
	case port != "":
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
			return "bad port"
		}
		if u.Scheme == "http" && n == 80 || u.Scheme == "https" && n == 443 {
			return "browsers omit the default port"
		}
		canon += net.JoinHostPort(host, port)
	case strings.Contains(host, ":"):
		canon += "[" + host + "]"
	default:
		canon += host
	}
	if canon != o {
		return "not in the form browsers send"
	}
	return ""
}
