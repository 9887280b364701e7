package credentials

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/tenantwall/tenantwall/tenant"
)

// Transport is an http.RoundTripper for calls to an integration: it puts
// the request context tenant's credential for Provider into each request,
// as "Authorization: Bearer <key>" or in Header, and refuses requests
// without a tenant. The credential never appears in its errors.
type Transport struct {
	Vault    *Vault
	Provider string
	// Header carries the key as is (such as "xi-api-key"); empty means
	// "Authorization: Bearer".
	Header string
	// Base sends the request; nil means http.DefaultTransport.
	Base http.RoundTripper
}

var _ http.RoundTripper = (*Transport)(nil)

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	// A RoundTripper closes the body even when it fails before sending.
	fail := func(err error) (*http.Response, error) {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	if _, err := tenant.IDFromContext(req.Context()); err != nil {
		return fail(fmt.Errorf("credentials: %s request: %w", t.Provider, err))
	}
	sec, err := t.Vault.Get(req.Context(), t.Provider)
	if err != nil {
		return fail(err)
	}
	r := req.Clone(req.Context()) // a RoundTripper must not modify the caller's request
	if t.Header != "" {
		r.Header.Set(t.Header, sec.Reveal())
	} else {
		r.Header.Set("Authorization", "Bearer "+sec.Reveal())
	}
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	res, err := base.RoundTrip(r)
	if err != nil {
		return nil, redact(err, sec.Reveal())
	}
	return res, nil
}

// redact removes the secret from an error's text, in case a transport
// echoed the request.
func redact(err error, secret string) error {
	if secret == "" || !strings.Contains(err.Error(), secret) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), secret, redacted))
}
