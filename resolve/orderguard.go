package resolve

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
)

// maxACMEBody bounds what OrderGuard reads of a directory or an order.
const maxACMEBody = 64 << 10

// OrderGuard wraps the HTTP transport of an ACME client (the HTTPClient of
// autocert.Manager's acme.Client) so that no certificate order leaves the
// process unless every name in it is served now, as GetCertificate
// decides, and its registered domain is within WithCertRate (each order
// sent counts). autocert does not consult its HostPolicy before renewing
// a certificate; the guard is consulted on every order, renewals
// included, so a removed domain or a suspended tenant gets no further
// certificate from this process.
//
// directoryURL is the ACME directory the client uses: the guard reads the
// directory's newOrder and newAuthz URLs from its response. It refuses,
// with an error wrapping ErrHostNotAllowed and without sending it, every
// POST before the directory was read, every pre-authorization (newAuthz),
// and every order it cannot read or that names anything but served DNS
// names. Other requests pass unchanged. next nil means
// http.DefaultTransport. The transport is safe for concurrent use.
func (p *CertPolicy) OrderGuard(directoryURL string, next http.RoundTripper) (http.RoundTripper, error) {
	u, err := url.Parse(directoryURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("%w: OrderGuard(%q): not an https URL", ErrConfig, directoryURL)
	}
	if next == nil {
		next = http.DefaultTransport
	}
	return &orderGuard{p: p, dir: u.String(), next: next}, nil
}

type orderGuard struct {
	p    *CertPolicy
	dir  string
	next http.RoundTripper

	mu                 sync.Mutex
	newOrder, newAuthz string // from the directory; empty until read
}

func (g *orderGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	u := req.URL.String()
	if req.Method == http.MethodGet && u == g.dir {
		return g.directory(req)
	}
	if req.Method != http.MethodPost {
		return g.next.RoundTrip(req)
	}
	g.mu.Lock()
	newOrder, newAuthz := g.newOrder, g.newAuthz
	g.mu.Unlock()
	switch {
	case newOrder == "":
		return refuse(req, fmt.Errorf("%w: ACME POST %s before the directory was read", ErrHostNotAllowed, u))
	case newAuthz != "" && u == newAuthz:
		return refuse(req, fmt.Errorf("%w: ACME pre-authorization refused", ErrHostNotAllowed))
	case u != newOrder:
		return g.next.RoundTrip(req)
	}
	body, err := readBody(req)
	if err != nil {
		return refuse(req, fmt.Errorf("%w: ACME order: %w", ErrHostNotAllowed, err))
	}
	names, err := orderNames(body)
	if err != nil {
		return refuse(req, fmt.Errorf("%w: ACME order: %w", ErrHostNotAllowed, err))
	}
	for _, n := range names {
		h, err := g.p.serving(req.Context(), n)
		if err == nil && h != n {
			err = fmt.Errorf("not in canonical form (%q)", h)
		}
		if err == nil {
			err = g.p.admit(g.p.budget(h))
		}
		if err != nil {
			return refuse(req, fmt.Errorf("%w: ACME order for %q: %w", ErrHostNotAllowed, n, err))
		}
	}
	out := req.Clone(req.Context())
	out.Body = io.NopCloser(bytes.NewReader(body))
	out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	out.ContentLength = int64(len(body))
	return g.next.RoundTrip(out)
}

// directory forwards the directory request and remembers the URLs the
// guard watches.
func (g *orderGuard) directory(req *http.Request) (*http.Response, error) {
	resp, err := g.next.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxACMEBody+1))
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	var d struct {
		NewOrder string `json:"newOrder"`
		NewAuthz string `json:"newAuthz"`
	}
	if len(b) > maxACMEBody || json.Unmarshal(b, &d) != nil {
		return nil, fmt.Errorf("%w: ACME directory %s cannot be read", ErrHostNotAllowed, g.dir)
	}
	order, err := url.Parse(d.NewOrder)
	if err != nil || order.Host == "" {
		return nil, fmt.Errorf("%w: ACME directory %s has no newOrder URL", ErrHostNotAllowed, g.dir)
	}
	authz := ""
	if d.NewAuthz != "" {
		a, err := url.Parse(d.NewAuthz)
		if err != nil {
			return nil, fmt.Errorf("%w: ACME directory %s: newAuthz: %w", ErrHostNotAllowed, g.dir, err)
		}
		authz = a.String()
	}
	g.mu.Lock()
	g.newOrder, g.newAuthz = order.String(), authz
	g.mu.Unlock()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	resp.ContentLength = int64(len(b))
	return resp, nil
}

func readBody(req *http.Request) ([]byte, error) {
	if req.Body == nil {
		return nil, errors.New("no body")
	}
	defer req.Body.Close()
	b, err := io.ReadAll(io.LimitReader(req.Body, maxACMEBody+1))
	if err == nil && len(b) > maxACMEBody {
		err = fmt.Errorf("body over %d bytes", maxACMEBody)
	}
	return b, err
}

// refuse closes the request's body, as a RoundTripper must, and fails.
func refuse(req *http.Request, err error) (*http.Response, error) {
	if req.Body != nil {
		req.Body.Close()
	}
	return nil, err
}

// orderNames reads the DNS names of an ACME newOrder request: a flattened
// JWS (RFC 8555 §6.2) whose payload holds identifiers (§7.4). It refuses
// a body that is not such a JWS, an order without identifiers, and any
// identifier that is not of type "dns".
func orderNames(body []byte) ([]string, error) {
	var jws struct {
		Payload *string `json:"payload"`
	}
	if err := json.Unmarshal(body, &jws); err != nil || jws.Payload == nil {
		return nil, errors.New("not a flattened JWS")
	}
	payload, err := base64.RawURLEncoding.DecodeString(*jws.Payload)
	if err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	var order struct {
		Identifiers []struct {
			Type  string `json:"type"`
			Value string `json:"value"`
		} `json:"identifiers"`
	}
	if err := json.Unmarshal(payload, &order); err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	if len(order.Identifiers) == 0 {
		return nil, errors.New("no identifiers")
	}
	names := make([]string, 0, len(order.Identifiers))
	for _, id := range order.Identifiers {
		if id.Type != "dns" {
			return nil, fmt.Errorf("identifier type %q", id.Type)
		}
		names = append(names, id.Value)
	}
	return names, nil
}
