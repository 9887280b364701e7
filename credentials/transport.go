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
// as "Authorization: Bearer <key>" or in Header. It refuses, before
// anything is sent, requests without a tenant (tenant.ErrNoTenant) and
// requests to any destination other than an https URL on one of the hosts
// bound to Provider with WithHosts (ErrHost) — including the redirects an
// http.Client follows, so a 302 to another host, port or scheme fails with
// ErrHost instead of carrying the key along. The credential never appears
// in its errors. Safe for concurrent use.
type Transport struct {
	// Vault holds the credentials; Provider names the one to add, whose
	// hosts (WithHosts) are the only destinations allowed.
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
	// The destination is checked on every call: http.Client follows a
	// redirect by calling RoundTrip again with the new URL, so a redirect
	// to another host is refused here, before the credential is read.
	if err := t.Vault.checkDestination(t.Provider, req); err != nil {
		return fail(err)
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
