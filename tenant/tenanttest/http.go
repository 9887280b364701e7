package tenanttest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// T is what the HTTP suite reports to: *testing.T, or a recorder when the
// suite itself is under test.
type T interface {
	Helper()
	Errorf(format string, args ...any)
	Logf(format string, args ...any)
}

// Tenant is one tenant of the service under test, as a client sees it:
// the host that selects it and the credentials of a signed-in user.
type Tenant struct {
	Name    string         // for messages, such as "acme"
	Host    string         // Host header of its requests
	Cookies []*http.Cookie // session cookies, if the service uses them
	Bearer  string         // bearer token, if it uses tokens
	// Secrets are strings that must never appear in another tenant's
	// responses, such as the tenant's ID.
	Secrets []string
}

// Endpoint is a JSON collection resource of the service.
type Endpoint struct {
	Name       string                             // for messages, such as "leads"
	Collection string                             // list (GET) and create (POST) path, such as "/api/leads/"
	Item       func(id string) string             // item path, such as "/api/leads/42/"
	Create     func(marker string) map[string]any // a create body that embeds marker in some field
	Update     map[string]any                     // a PATCH body; nil skips PATCH
	Put        func(marker string) map[string]any // a PUT body; nil skips PUT
	IDField    string                             // default "id"
	ListField  string                             // the list's array field; default "results"; "-" for a bare array
	// TenantField names a field a malicious client might add to bodies
	// to pick the tenant (such as "tenant_id"); empty skips the check.
	TenantField string
	// UnknownID is an id that exists for no tenant; default "999999999".
	UnknownID string
}

// FileEndpoint is an upload/download pair of the service.
type FileEndpoint struct {
	Name string
	// Upload stores a file holding marker for the tenant and returns its id.
	Upload func(c *Client, marker string) (id string, err error)
	// Download is the download path of an id.
	Download func(id string) string
}

// CachedEndpoint is a read endpoint whose answer is cached per tenant and
// depends on the tenant's data, such as a dashboard.
type CachedEndpoint struct {
	Name string
	Path string
}

// HTTPSuite describes a service for CheckHTTPIsolation.
type HTTPSuite struct {
	// Handler is the service; or set BaseURL to test a running one.
	Handler http.Handler
	BaseURL string
	// Tenants returns two or more tenants with signed-in clients. It may
	// use Client to sign in.
	Tenants   func(s *Session) ([]Tenant, error)
	Endpoints []Endpoint
	Files     []FileEndpoint
	Cached    []CachedEndpoint
	// AllowInsecureCookies accepts cookies without Secure (plain-HTTP
	// test servers); host-only and HttpOnly are always required.
	AllowInsecureCookies bool
}

// Session is a started suite: the service's base URL and HTTP client.
type Session struct {
	BaseURL string
	HTTP    *http.Client
}

// Client sends requests as one tenant (its host and credentials).
type Client struct {
	s      *Session
	Tenant Tenant
}

// Client returns a client of tenant tn.
func (s *Session) Client(tn Tenant) *Client { return &Client{s: s, Tenant: tn} }

// Response is a read response.
type Response struct {
	Code    int
	Body    []byte
	Header  http.Header
	Cookies []*http.Cookie
}

// Do sends a request with the tenant's host and credentials. body may be
// nil, a []byte sent as is with ctype, or any value sent as JSON.
func (c *Client) Do(method, path string, body any, ctype string) (Response, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return Response{}, err
		}
		rd, ctype = bytes.NewReader(data), "application/json"
	}
	req, err := http.NewRequest(method, strings.TrimSuffix(c.s.BaseURL, "/")+path, rd)
	if err != nil {
		return Response{}, err
	}
	req.Host = c.Tenant.Host
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for _, ck := range c.Tenant.Cookies {
		req.AddCookie(ck)
	}
	if c.Tenant.Bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.Tenant.Bearer)
	}
	res, err := c.s.HTTP.Do(req)
	if err != nil {
		return Response{}, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 32<<20))
	return Response{Code: res.StatusCode, Body: data, Header: res.Header, Cookies: res.Cookies()}, err
}

// As returns a client that sends this client's credentials to another
// tenant's host: a stolen cookie or token.
func (c *Client) As(host string) *Client {
	tn := c.Tenant
	tn.Host = host
	return &Client{s: c.s, Tenant: tn}
}

// Marker returns a unique string naming a tenant, to plant in created
// items and look for in other tenants' responses.
func Marker(tenantName string) string {
	var b [6]byte
	rand.Read(b[:])
	return "tw-marker-" + tenantName + "-" + hex.EncodeToString(b[:])
}

// NoForeignIdentifiers reports the first of foreign found in body, if any.
func NoForeignIdentifiers(body []byte, foreign ...string) error {
	for _, f := range foreign {
		if f != "" && bytes.Contains(body, []byte(f)) {
			return fmt.Errorf("response contains another tenant's identifier %q", f)
		}
	}
	return nil
}

// CheckCookies checks Set-Cookie values: host-only (no Domain), HttpOnly,
// and Secure unless allowInsecure.
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

// RunHTTPTests runs CheckHTTPIsolation as a test.
func RunHTTPTests(t *testing.T, s HTTPSuite) {
	t.Helper()
	CheckHTTPIsolation(t, s)
}

// start serves the suite's handler, if any.
func (s HTTPSuite) start() (*Session, func()) {
	if s.Handler != nil {
		srv := httptest.NewServer(s.Handler)
		return &Session{BaseURL: srv.URL, HTTP: srv.Client()}, srv.Close
	}
	return &Session{BaseURL: s.BaseURL, HTTP: http.DefaultClient}, func() {}
}
