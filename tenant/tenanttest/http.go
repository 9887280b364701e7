package tenanttest

import (
	"net/http"
)

// HTTPSuite describes a service to the HTTP suite (RunHTTPTests,
// CheckHTTPIsolation) and to CheckConcurrent. Tenants and at least one of
// Endpoints, Files or Cached are needed; the rest is optional. A suite
// value is read, never changed, so one value can serve several runs.
type HTTPSuite struct {
	// Handler is the service, served on a fresh httptest server for each
	// run. Leave it nil and set BaseURL to test a running service.
	Handler http.Handler
	BaseURL string // a running service's base URL, used when Handler is nil
	// Tenants returns two or more tenants of the service, each with a
	// distinct Name and Host. A service with sign-in signs each one in
	// here, through srv.Client(tn).Do, and sets its Cookies or Bearer; a
	// service that takes the tenant from the host alone returns them
	// without credentials.
	Tenants   func(srv *Server) ([]HTTPTenant, error)
	Endpoints []Endpoint       // JSON collections and their items
	Files     []FileEndpoint   // uploads and their downloads
	Cached    []CachedEndpoint // answers the service caches
	// AllowInsecureCookies accepts cookies without Secure, for plain-HTTP
	// test servers; host-only and HttpOnly are always required.
	AllowInsecureCookies bool
}

// HTTPTenant is one tenant of the service under test as a client sees it:
// the host that selects it and, when the service has sign-in, the
// credentials of a signed-in user.
type HTTPTenant struct {
	Name    string         // names the tenant in failures, such as "acme"; unique within a suite
	Host    string         // Host header of its requests, such as "acme.example.com"; unique within a suite
	Cookies []*http.Cookie // session cookies, if the service uses them
	Bearer  string         // bearer token, if the service uses tokens
	// Secrets are strings that must never appear in another tenant's
	// responses, such as the tenant's ID. The first one is also what a
	// hostile client puts in an Endpoint's TenantField.
	Secrets []string
}

// hasCredentials reports whether the tenant's client signs in.
func (tn HTTPTenant) hasCredentials() bool { return len(tn.Cookies) > 0 || tn.Bearer != "" }

// Endpoint is a JSON collection resource of the service: a list and a
// create at Collection, and an item read, update and delete at Item(id).
// Name, Collection, Item and Create are required.
type Endpoint struct {
	Name       string                             // names the endpoint in failures, such as "leads"
	Collection string                             // list (GET) and create (POST) path, such as "/api/leads/"
	Item       func(id string) string             // item path, such as "/api/leads/42/"
	Create     func(marker string) map[string]any // a create body that embeds marker in some field
	Update     map[string]any                     // a PATCH body; nil skips PATCH
	Put        func(marker string) map[string]any // a PUT body; nil skips PUT
	IDField    string                             // the id field of items; default "id"
	ListField  string                             // the list's array field; default "results"; "-" for a bare array
	// TenantField names a field a hostile client might add to bodies to
	// pick the tenant (such as "tenant_id"); empty skips that check.
	TenantField string
	// UnknownID is an id that exists for no tenant; default "999999999".
	UnknownID string
}

// withDefaults returns ep with its documented defaults filled in.
func (ep Endpoint) withDefaults() Endpoint {
	if ep.IDField == "" {
		ep.IDField = "id"
	}
	if ep.ListField == "" {
		ep.ListField = "results"
	}
	if ep.UnknownID == "" {
		ep.UnknownID = "999999999"
	}
	return ep
}

// FileEndpoint is an upload and download pair of the service. All fields
// are required.
type FileEndpoint struct {
	Name string // names the endpoint in failures, such as "documents"
	// Upload stores, as c's tenant, a file whose content holds marker,
	// and returns its id.
	Upload func(c *Client, marker string) (id string, err error)
	// Download is the download path of an id.
	Download func(id string) string
}

// CachedEndpoint is a read endpoint whose answer is cached per tenant and
// changes with the tenant's own writes through the suite's first
// Endpoint, such as a dashboard with counts.
type CachedEndpoint struct {
	Name string // names the endpoint in failures, such as "dashboard"
	Path string // GET path, such as "/api/dashboard/"
}
