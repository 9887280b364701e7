package credentials_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gocloud.dev/secrets"
	"gocloud.dev/secrets/localsecrets"

	"github.com/tenantwall/tenantwall/credentials"
	"github.com/tenantwall/tenantwall/tenant"
	"github.com/tenantwall/tenantwall/tenant/tenanttest"
)

// seen records the credentials a test server received.
type seen struct {
	mu   sync.Mutex
	auth []string
}

func (s *seen) add(r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.auth = append(s.auth, r.Header.Get("Authorization")+r.Header.Get("Xi-Api-Key"))
}

func (s *seen) all() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.auth...)
}

// hostNet is two real TLS servers reached by name: api.good.test (the
// provider's API, on ports 443 and 8443) and evil.test (anything else).
// Names are dialled to the servers' listeners; the test certificate is
// checked as example.com, for which httptest issues it.
type hostNet struct {
	good, evil         *httptest.Server
	goodSeen, evilSeen *seen
	base               http.RoundTripper
}

func newHostNet(t *testing.T, goodHandler http.HandlerFunc) *hostNet {
	t.Helper()
	n := &hostNet{goodSeen: &seen{}, evilSeen: &seen{}}
	n.good = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.goodSeen.add(r)
		goodHandler(w, r)
	}))
	t.Cleanup(n.good.Close)
	n.evil = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.evilSeen.add(r)
		io.WriteString(w, "stolen")
	}))
	t.Cleanup(n.evil.Close)
	routes := map[string]string{
		"api.good.test:443":  n.good.Listener.Addr().String(),
		"api.good.test:8443": n.good.Listener.Addr().String(),
		"evil.test:443":      n.evil.Listener.Addr().String(),
		"evil.test:80":       n.evil.Listener.Addr().String(),
		"api.good.test:80":   n.good.Listener.Addr().String(),
	}
	tr := n.good.Client().Transport.(*http.Transport).Clone()
	tr.TLSClientConfig.RootCAs = n.good.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	tr.TLSClientConfig.ServerName = "example.com"
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		to, ok := routes[strings.ToLower(addr)]
		if !ok {
			return nil, fmt.Errorf("test network: no route to %s", addr)
		}
		var d net.Dialer
		return d.DialContext(ctx, network, to)
	}
	t.Cleanup(tr.CloseIdleConnections)
	n.base = tr
	return n
}

func boundVault(t *testing.T, opts ...credentials.Option) (*credentials.Vault, context.Context) {
	t.Helper()
	v := newVault(t, credentials.NewMemStore(), opts...)
	ctx := tenant.NewContext(context.Background(), tenanttest.NewTenant("acme"))
	_, err := v.Set(ctx, "openai", "sk-acme-secret")
	require.NoError(t, err)
	return v, ctx
}

func TestTransportNeverFollowsARedirectWithTheKey(t *testing.T) {
	for _, status := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		for _, target := range []string{
			"https://evil.test/steal", "https://EVIL.test/steal", "https://api.good.test.evil.test/x", "https://evil.test:443/x",
			"http://api.good.test/downgrade", "http://evil.test/x", "https://api.good.test:8443/other-port",
			"https://api.good.test./trailing-dot", "https://api.good.test@evil.test/userinfo", "https://u:p@api.good.test/userinfo",
			"//evil.test/scheme-relative", "https://xn--api-good-test.evil.test/", "https://bücher.good.test/",
		} {
			t.Run(fmt.Sprintf("a %d to %s fails with ErrHost and sends nothing there", status, target), func(t *testing.T) {
				n := newHostNet(t, func(w http.ResponseWriter, r *http.Request) {
					http.Redirect(w, r, target, status)
				})
				v, ctx := boundVault(t, credentials.WithHosts("openai", "api.good.test"))
				c := &http.Client{Transport: &credentials.Transport{Vault: v, Provider: "openai", Base: n.base}}
				req, err := http.NewRequestWithContext(ctx, "POST", "https://api.good.test/v1/chat", strings.NewReader("{}"))
				require.NoError(t, err)
				res, err := c.Do(req)
				if res != nil {
					res.Body.Close()
				}
				require.ErrorIs(t, err, credentials.ErrHost)
				assert.NotContains(t, err.Error(), "sk-acme-secret")
				var uerr *url.Error
				require.True(t, errors.As(err, &uerr), "the client names the refused URL")
				assert.Equal(t, []string{"Bearer sk-acme-secret"}, n.goodSeen.all(), "the first request carried the key")
				assert.Empty(t, n.evilSeen.all(), "nothing reached the other host")
			})
		}
	}
	t.Run("a redirect within the bound host keeps the key", func(t *testing.T) {
		n := newHostNet(t, func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/old" {
				http.Redirect(w, r, "https://API.good.test:443/new", http.StatusFound)
				return
			}
			io.WriteString(w, "ok")
		})
		v, ctx := boundVault(t, credentials.WithHosts("openai", "api.good.test"))
		c := &http.Client{Transport: &credentials.Transport{Vault: v, Provider: "openai", Base: n.base}}
		req, _ := http.NewRequestWithContext(ctx, "GET", "https://api.good.test/old", nil)
		res, err := c.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		assert.Equal(t, []string{"Bearer sk-acme-secret", "Bearer sk-acme-secret"}, n.goodSeen.all())
	})
}

func TestTransportSendsTheKeyOnlyToItsHosts(t *testing.T) {
	// Every destination here is decided before the base transport is
	// called; the recording base stands for the network.
	var sent []string
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		sent = append(sent, r.URL.String()+" "+r.Header.Get("Authorization"))
		return &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(strings.NewReader("")), Request: r}, nil
	})
	v, ctx := boundVault(t,
		credentials.WithHosts("openai", "api.good.test", "api.good.test:8443", "xn--bcher-kva.test", "127.0.0.1:9443", "::1"),
		credentials.WithHosts("other", "other.test"))
	tr := &credentials.Transport{Vault: v, Provider: "openai", Base: base}

	allowed := []string{
		"https://api.good.test/v1", "https://API.GOOD.TEST/v1", "https://Api.Good.Test/", "https://api.good.test:443/",
		"https://api.good.test:8443/", "https://xn--bcher-kva.test/", "https://XN--BCHER-KVA.test/",
		"https://127.0.0.1:9443/", "https://[::1]/", "https://[::1]:443/", "https://api.good.test/%2e%2e/evil.test",
	}
	refused := []string{
		"http://api.good.test/", "HTTP://api.good.test/", "ws://api.good.test/", "wss://api.good.test/", "ftp://api.good.test/",
		"https://evil.test/", "https://api.good.test./", "https://api.good.test../", "https://.api.good.test/",
		"https://good.test/", "https://x.api.good.test/", "https://api.good.test.evil.test/", "https://evilapi.good.test/",
		"https://api-good.test/", "https://api.good.test:8080/", "https://api.good.test:80/", "https://api.good.test:08443/",
		"https://api.good.test:0443/", "https://api.good.test:443443/", "https://api.good.test:/",
		"https://api.good.test@evil.test/", "https://evil.test@api.good.test/", "https://u:p@api.good.test/",
		"https://bücher.test/", "https://BÜCHER.test/", "https://xn--bcher-kva.test./", "https://\u0430pi.good.test/",
		"https://api.good.te\u0455t/", "https://api\uff0egood\uff0etest/", "https://127.0.0.1/", "https://127.0.0.1:443/",
		"https://127.1:9443/", "https://2130706433:9443/", "https://0x7f.0.0.1:9443/", "https://[::ffff:127.0.0.1]:9443/",
		"https://[0:0::1]/", "https://[::1%25lo]/", "https://localhost/", "https://other.test/", "https:api.good.test",
		"https:///v1", "https://api.good.test%2fevil.test/",
	}
	for _, raw := range allowed {
		t.Run(raw+" carries the key", func(t *testing.T) {
			sent = nil
			u, err := url.Parse(raw)
			require.NoError(t, err)
			req := (&http.Request{Method: "GET", URL: u, Header: http.Header{}}).WithContext(ctx)
			res, err := tr.RoundTrip(req)
			require.NoError(t, err)
			res.Body.Close()
			require.Len(t, sent, 1)
			assert.True(t, strings.HasSuffix(sent[0], " Bearer sk-acme-secret"), sent[0])
		})
	}
	for _, raw := range refused {
		t.Run(raw+" is refused", func(t *testing.T) {
			sent = nil
			u, err := url.Parse(raw)
			if err != nil {
				return // not even a URL: no request can be made of it
			}
			req := (&http.Request{Method: "GET", URL: u, Header: http.Header{}}).WithContext(ctx)
			_, err = tr.RoundTrip(req)
			require.ErrorIs(t, err, credentials.ErrHost)
			assert.Empty(t, sent, "nothing was sent")
			assert.NotContains(t, err.Error(), "sk-acme-secret")
		})
	}
	t.Run("a URL host that does not parse back is refused", func(t *testing.T) {
		for _, host := range []string{"api.good.test:+443", "api.good.test: 443", "api.good.test:", "[api.good.test]", "api.good.test\x00", "api.good.test/x", ""} {
			sent = nil
			req := (&http.Request{Method: "GET", URL: &url.URL{Scheme: "https", Host: host, Path: "/"}, Header: http.Header{}}).WithContext(ctx)
			_, err := tr.RoundTrip(req)
			assert.ErrorIs(t, err, credentials.ErrHost, "%q", host)
			assert.Empty(t, sent)
		}
	})
	t.Run("a Host header other than the URL host is refused", func(t *testing.T) {
		for url, host := range map[string]string{"https://api.good.test/": "evil.test", "https://evil.test/": "api.good.test", "https://api.good.test/x": "api.good.test:8443"} {
			sent = nil
			req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
			req.Host = host
			_, err := tr.RoundTrip(req)
			assert.ErrorIs(t, err, credentials.ErrHost, "%s with Host %s", url, host)
			assert.Empty(t, sent)
		}
	})
	t.Run("a provider without hosts sends nothing", func(t *testing.T) {
		_, err := v.Set(ctx, "unbound", "k")
		require.NoError(t, err)
		req, _ := http.NewRequestWithContext(ctx, "GET", "https://api.good.test/", nil)
		_, err = (&credentials.Transport{Vault: v, Provider: "unbound", Base: base}).RoundTrip(req)
		assert.ErrorIs(t, err, credentials.ErrHost)
	})
	t.Run("the platform fallback key is bound the same way", func(t *testing.T) {
		fv, fctx := boundVault(t, credentials.WithFallback("elevenlabs", "platform-key"), credentials.WithHosts("elevenlabs", "api.elevenlabs.io"))
		ft := &credentials.Transport{Vault: fv, Provider: "elevenlabs", Header: "xi-api-key", Base: base}
		sent = nil
		req, _ := http.NewRequestWithContext(fctx, "GET", "https://evil.test/", nil)
		_, err := ft.RoundTrip(req)
		assert.ErrorIs(t, err, credentials.ErrHost)
		req, _ = http.NewRequestWithContext(fctx, "GET", "https://api.elevenlabs.io/v1", nil)
		res, err := ft.RoundTrip(req)
		require.NoError(t, err)
		res.Body.Close()
		assert.Len(t, sent, 1)
	})
}

func TestWithHostsRefusesWhatItDoesNotUnderstand(t *testing.T) {
	for _, h := range []string{
		"", "https://api.good.test", "api.good.test/", "api.good.test/v1", "api.good.test.", ".api.good.test", "api..good.test",
		"*.good.test", "user@api.good.test", "api.good.test:", "api.good.test:0", "api.good.test:0443", "api.good.test:65536",
		"api.good.test:+443", "api.good.test:https", "bücher.test", "\u0430pi.good.test", "api_good.test", "-api.good.test",
		"api-.good.test", "api good.test", "api.good.test\x00", "127.1", "2130706433", "0x7f.0.0.1", "1.2.3.4.5",
		"127.000.0.1", "[::1]", "[0:0::1]:443", "0:0::1", "fe80::1%eth0", "[fe80::1%25eth0]:443",
		strings.Repeat("a", 64) + ".test", strings.Repeat("a.", 127) + "test",
	} {
		_, err := credentials.New(newKeeper(t), credentials.NewMemStore(), credentials.WithHosts("openai", h))
		assert.ErrorIs(t, err, credentials.ErrConfig, "host %q", h)
	}
	_, err := credentials.New(newKeeper(t), credentials.NewMemStore(), credentials.WithHosts("openai"))
	assert.ErrorIs(t, err, credentials.ErrConfig, "no hosts")
	_, err = credentials.New(newKeeper(t), credentials.NewMemStore(), credentials.WithHosts("Open AI", "api.openai.com"))
	assert.ErrorIs(t, err, credentials.ErrProvider)
	for _, h := range []string{"api.openai.com", "API.OpenAI.com", "api.openai.com:8443", "127.0.0.1", "[::1]:8443", "::1", "xn--bcher-kva.test"} {
		_, err := credentials.New(newKeeper(t), credentials.NewMemStore(), credentials.WithHosts("openai", h))
		assert.NoError(t, err, "host %q", h)
	}
}

func newKeeper(t *testing.T) *secrets.Keeper {
	t.Helper()
	key, err := localsecrets.NewRandomKey()
	require.NoError(t, err)
	k := localsecrets.NewKeeper(key)
	t.Cleanup(func() { k.Close() })
	return k
}
