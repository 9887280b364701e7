package tenanttest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
)

// Server is the service under test as the suite reaches it: its base URL
// and the HTTP client to use. The suite makes one per run and passes it to
// HTTPSuite.Tenants; it is safe for concurrent use.
type Server struct {
	BaseURL string       // scheme and address, such as "http://127.0.0.1:8080"
	HTTP    *http.Client // the client every request goes through
}

// Client returns a client that sends requests as tenant tn.
func (s *Server) Client(tn HTTPTenant) *Client { return &Client{srv: s, Tenant: tn} }

// Client sends requests as one tenant: to its host, with its credentials.
// Safe for concurrent use.
type Client struct {
	srv    *Server
	Tenant HTTPTenant // the tenant it sends as
}

// Response is an answer read in full (up to 32 MiB of body).
type Response struct {
	Code    int            // the status code
	Body    []byte         // the body, read in full
	Header  http.Header    // the response headers
	Cookies []*http.Cookie // the cookies set by the answer
}

// Do sends a request with the tenant's host and credentials. body may be
// nil, a []byte sent as is with content type ctype, or any other value
// sent as JSON (ctype is then ignored).
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
	req, err := http.NewRequest(method, strings.TrimSuffix(c.srv.BaseURL, "/")+path, rd)
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
	res, err := c.srv.HTTP.Do(req)
	if err != nil {
		return Response{}, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 32<<20))
	return Response{Code: res.StatusCode, Body: data, Header: res.Header, Cookies: res.Cookies()}, err
}

// as returns a client that sends this client's credentials to another
// tenant's host: a stolen cookie or token.
func (c *Client) as(host string) *Client {
	tn := c.Tenant
	tn.Host = host
	return &Client{srv: c.srv, Tenant: tn}
}
