package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/internal/testenv"
)

// syncBuffer is a log destination the test reads while the server writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// count is how many log lines contain all of parts.
func (s *syncBuffer) count(parts ...string) int {
	n := 0
	for _, line := range strings.Split(s.String(), "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			n++
		}
	}
	return n
}

// httpsEndpoint is where a test's HTTPS clients connect (the CRM itself,
// or Caddy in front of it) and the roots they trust: Pebble's.
type httpsEndpoint struct {
	addr  string
	roots *x509.CertPool
}

// reply is one HTTPS exchange: the status, the body, the certificate the
// server presented.
type reply struct {
	code int
	body map[string]any
	cert *x509.Certificate
}

// fetch sends method path to the endpoint on a new connection whose
// handshake names sni and whose request names host, as a browser would
// (HTTP/2 when offered), validating the certificate against Pebble's
// root.
func (e httpsEndpoint) fetch(sni, host, method, path, token string, in any) (reply, error) {
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: e.roots, ServerName: sni},
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", e.addr)
		},
		ForceAttemptHTTP2: true,
		DisableKeepAlives: true,
	}
	defer tr.CloseIdleConnections()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "https://"+host+path, body)
	if err != nil {
		return reply{}, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	c := &http.Client{Transport: tr, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	r := reply{code: resp.StatusCode}
	if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
		r.cert = resp.TLS.PeerCertificates[0]
	}
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &r.body)
	return r, nil
}

// get fetches path from host, with SNI and Host the same.
func (e httpsEndpoint) get(host, path string) (reply, error) {
	return e.fetch(host, host, "GET", path, "", nil)
}

// tlsCRM is the CRM run as the binary runs (run, with -tls), on a free
// port that its own Pebble validates tls-alpn-01 challenges on.
type tlsCRM struct {
	httpsEndpoint
	peb  *testenv.Pebble
	logs *syncBuffer
}

func startTLSCRM(t *testing.T, extra ...string) *tlsCRM {
	t.Helper()
	port := testenv.FreePort(t)
	peb := testenv.StartPebble(t, testenv.PebbleConfig{TLSPort: port})
	addr := "127.0.0.1:" + strconv.Itoa(port)
	args := append([]string{"-addr", addr, "-data", t.TempDir(), "-operator-token", "op-secret", "-bcrypt-cost", "4",
		"-base-domain", "saas.test", "-tls", "-acme-directory", peb.DirectoryURL(), "-acme-ca-file", peb.CAFile()}, extra...)
	s := &tlsCRM{httpsEndpoint: httpsEndpoint{addr: addr, roots: peb.Roots()}, peb: peb, logs: &syncBuffer{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var runErr error
	go func() {
		defer close(done)
		runErr = run(ctx, args, io.Discard, s.logs)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		if t.Failed() {
			t.Logf("crm log:\n%s", s.logs)
		}
	})
	waitListening(t, addr, done, func() error { return runErr })
	return s
}

// waitListening returns once addr accepts connections, and fails the test
// if the server exits first.
func waitListening(t *testing.T, addr string, done <-chan struct{}, exitErr func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-done:
			t.Fatalf("server exited: %v", exitErr())
		default:
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not listen on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// operator calls the operator API over HTTPS on the platform host.
func (s *tlsCRM) operator(t *testing.T, method, path string, in any) int {
	t.Helper()
	r, err := s.fetch("platform.saas.test", "platform.saas.test", method, path, "op-secret", in)
	require.NoError(t, err)
	return r.code
}

// TestTLSCertificatesOnDemand runs the server terminating TLS itself
// against a real ACME CA (Pebble), which validates each order by
// connecting to the server's TLS port (tls-alpn-01): certificates for
// exactly the hosts the server serves, on their first handshake, and no
// order — counted by Pebble — for anything else.
func TestTLSCertificatesOnDemand(t *testing.T) {
	const budget = 20 // store lookups per second for uncached names
	s := startTLSCRM(t, "-tls-handshake-lookups", strconv.Itoa(budget))
	orders := 0
	expectOrders := func(msg string) {
		t.Helper()
		require.Equal(t, orders, s.peb.Orders(), "orders Pebble received: %s", msg)
	}
	served := func(host, company string) {
		t.Helper()
		r, err := s.get(host, "/api/tenant-branding/")
		require.NoError(t, err, "%s: a certificate that chains to Pebble's root", host)
		require.Equal(t, http.StatusOK, r.code, host)
		assert.Equal(t, company, r.body["company_name"], "%s reaches its own tenant", host)
		assert.Equal(t, []string{host}, r.cert.DNSNames, "a certificate of %s's own", host)
	}
	refused := func(msg string, hosts ...string) {
		t.Helper()
		for _, h := range hosts {
			_, err := s.get(h, "/api/tenant-branding/")
			assert.Error(t, err, "%s (%s): no certificate", h, msg)
		}
		expectOrders(msg)
	}

	served("crm.acme.test", "Acme Corporation")
	orders++
	expectOrders("a verified custom domain gets a certificate on its first handshake")
	served("globex.saas.test", "Globex Inc")
	orders++
	expectOrders("a tenant subdomain gets a certificate of its own")
	served("crm.acme.test", "Acme Corporation")
	expectOrders("a host with a certificate gets no second one")

	require.Equal(t, http.StatusCreated, s.operator(t, "POST", "/admin/api/tenants/", map[string]any{"slug": "initech", "name": "Initech"}))
	orders++ // the platform host's own certificate
	expectOrders("the operator API is served on the platform host")
	require.Equal(t, http.StatusCreated, s.operator(t, "POST", "/admin/api/tenants/globex/domains/", map[string]any{"host": "pending.globex.test"}))
	require.Equal(t, http.StatusCreated, s.operator(t, "POST", "/admin/api/tenants/acme/domains/", map[string]any{"host": "old.acme.test"}))
	require.Equal(t, http.StatusCreated, s.operator(t, "POST", "/admin/api/tenants/acme/domains/", map[string]any{"host": "old.acme.test", "status": "removed"}))
	require.Equal(t, http.StatusOK, s.operator(t, "POST", "/admin/api/tenants/initech/suspend/", nil))
	refused("unverified, removed, suspended and unknown hosts",
		"pending.globex.test", "old.acme.test", "initech.saas.test", "nobody.saas.test", "www.saas.test",
		"saas.test", "a.acme.saas.test", "crm.acme.test.evil.example", "unknown.example", "localhost")
	_, err := s.fetch("", "127.0.0.1", "GET", "/healthz", "", nil)
	assert.Error(t, err, "a handshake without a server name gets no certificate")

	t.Run("SNI and Host of different tenants are refused with 421", func(t *testing.T) {
		for _, c := range []struct{ sni, host, path, token string }{
			{"crm.acme.test", "globex.saas.test", "/api/tenant-branding/", ""},
			{"globex.saas.test", "crm.acme.test", "/api/tenant-branding/", ""},
			{"crm.acme.test", "platform.saas.test", "/admin/api/tenants/", "op-secret"},
			{"platform.saas.test", "globex.saas.test", "/api/tenant-branding/", ""},
			{"crm.acme.test", "nobody.saas.test", "/api/tenant-branding/", ""},
			{"crm.acme.test", "globex.saas.test", "/healthz", ""},
		} {
			r, err := s.fetch(c.sni, c.host, "GET", c.path, c.token, nil)
			require.NoError(t, err)
			assert.Equal(t, http.StatusMisdirectedRequest, r.code, "SNI %s, Host %s", c.sni, c.host)
			assert.NotContains(t, r.body, "company_name", "never answered for either tenant")
		}
		// The same tenant under another of its names is the same site.
		r, err := s.fetch("crm.acme.test", "acme.saas.test", "GET", "/api/tenant-branding/", "", nil)
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, r.code)
		assert.Equal(t, "Acme Corporation", r.body["company_name"])
		expectOrders("a misdirected request orders nothing")
	})

	t.Run("removal and suspension stop serving; a re-added domain needs fresh verification", func(t *testing.T) {
		require.Equal(t, http.StatusCreated, s.operator(t, "POST", "/admin/api/tenants/acme/domains/", map[string]any{"host": "crm.acme.test", "status": "removed"}))
		refused("a removed domain loses its certificate at once", "crm.acme.test")
		require.Equal(t, http.StatusOK, s.operator(t, "POST", "/admin/api/tenants/globex/suspend/", nil))
		refused("a suspended tenant's host loses its certificate at once", "globex.saas.test")

		require.Equal(t, http.StatusCreated, s.operator(t, "POST", "/admin/api/tenants/acme/domains/", map[string]any{"host": "crm.acme.test"}))
		refused("a re-added domain is pending until verified", "crm.acme.test")
		for _, st := range []string{"active", "verified"} {
			assert.Equal(t, http.StatusBadRequest, s.operator(t, "POST", "/admin/api/tenants/acme/domains/", map[string]any{"host": "crm.acme.test", "status": st}),
				"the operator API cannot skip verification (%s)", st)
		}
		refused("still pending", "crm.acme.test")

		require.Equal(t, http.StatusOK, s.operator(t, "POST", "/admin/api/tenants/globex/activate/", nil))
		served("globex.saas.test", "Globex Inc")
		expectOrders("a reactivated tenant is served from the certificate cache")
	})

	t.Run("a storm of handshakes for random names places no order and is rate limited", func(t *testing.T) {
		const storm = 250
		var wg sync.WaitGroup
		errs := make(chan error, storm)
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < storm; i += 8 {
					host := fmt.Sprintf("storm%d-%s.saas.test", i, randomToken()[:12])
					if i%2 == 1 {
						host = fmt.Sprintf("storm%d.%s.example", i, randomToken()[:12])
					}
					_, err := s.get(host, "/healthz")
					errs <- err
				}
			}()
		}
		start := time.Now()
		wg.Wait()
		took := time.Since(start)
		close(errs)
		for err := range errs {
			require.Error(t, err, "a random name gets no certificate")
		}
		expectOrders("the storm")
		// Each refusal is logged with its reason: the store answered
		// "unknown host", or the budget refused before asking it.
		// The client sees its handshake fail before the server has
		// logged why, so the count is read once the log has caught up.
		counts := func() (looked, limited int) {
			return s.logs.count("TLS handshake error", `\"storm`, "unknown host"),
				s.logs.count("TLS handshake error", `\"storm`, "uncached hosts within")
		}
		assert.Eventually(t, func() bool { l, r := counts(); return l+r >= storm },
			5*time.Second, 20*time.Millisecond, "the server logged every storm handshake")
		looked, limited := counts()
		t.Logf("storm of %d handshakes in %v: %d store lookups, %d refused by the budget", storm, took, looked, limited)
		assert.Equal(t, storm, looked+limited, "every storm handshake was refused, for one of the two reasons")
		assert.LessOrEqual(t, looked, budget*(2+int(took/time.Second)), "store lookups stay within the budget (storm took %v)", took)
		assert.Positive(t, limited, "the budget refused handshakes without a lookup")
		served("globex.saas.test", "Globex Inc") // known hosts are served through a storm
		expectOrders("after the storm")
	})
}

// TestTLSRenewalStopsForRemovedDomains lets Pebble issue certificates
// that live 20 s, renewed 15 s before they expire: autocert's renewal
// runs about 5 s after issuance. A domain removed and a tenant suspended
// in between must have their renewal refused before any order is sent.
func TestTLSRenewalStopsForRemovedDomains(t *testing.T) {
	port := testenv.FreePort(t)
	peb := testenv.StartPebble(t, testenv.PebbleConfig{TLSPort: port, Validity: 20 * time.Second})
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cfg, _, err := parseFlags("crm", []string{"-addr", addr, "-data", t.TempDir(), "-bcrypt-cost", "4", "-base-domain", "saas.test",
		"-tls", "-acme-directory", peb.DirectoryURL(), "-acme-ca-file", peb.CAFile(), "-acme-renew-before", "15s"}, io.Discard)
	require.NoError(t, err)
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	a, err := newApp(context.Background(), cfg, log)
	require.NoError(t, err)
	t.Cleanup(a.close)
	ln, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	tl, err := a.serveTLS(ln)
	require.NoError(t, err)
	srv := newHTTPServer(cfg, a.routes(), log)
	go func() { _ = srv.Serve(tl) }()
	t.Cleanup(func() { _ = srv.Close() })
	e := httpsEndpoint{addr: addr, roots: peb.Roots()}
	ctx := context.Background()

	r, err := e.get("crm.acme.test", "/healthz")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, r.code)
	_, err = a.putDomain(ctx, "acme", "crm.acme.test", "removed")
	require.NoError(t, err)
	r, err = e.get("globex.saas.test", "/healthz")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, r.code)
	_, err = a.setStatus(ctx, "globex", "suspended")
	require.NoError(t, err)
	require.Equal(t, 2, peb.Orders())

	require.Eventually(t, func() bool {
		return logs.count("acme order refused", `\"crm.acme.test\"`) > 0 && logs.count("acme order refused", `\"globex.saas.test\"`) > 0
	}, 20*time.Second, 50*time.Millisecond, "both renewals were attempted and refused:\n%s", logs)
	assert.Equal(t, 2, peb.Orders(), "no renewal order reached the CA")
}

func TestTLSFlagsRefuseWhatWouldNotBeBounded(t *testing.T) {
	for _, c := range []struct {
		args []string
		ok   bool
	}{
		{[]string{"-tls-ask-addr", "127.0.0.1:8081"}, true},
		{[]string{"-tls-ask-addr", "[::1]:8081"}, true},
		{[]string{"-tls-ask-addr", "10.0.0.5:8081"}, true},
		{[]string{"-tls-ask-addr", ":8081"}, false},
		{[]string{"-tls-ask-addr", "0.0.0.0:8081"}, false},
		{[]string{"-tls-ask-addr", "[::]:8081"}, false},
		{[]string{"-tls-ask-addr", "localhost:8081"}, false},
		{[]string{"-tls-ask-addr", "127.0.0.1"}, false},
		{[]string{"-tls-handshake-lookups", "0"}, false},
		{[]string{"-tls-handshake-lookups", "-1"}, false},
		{[]string{"-acme-renew-before", "-1h"}, false},
	} {
		cfg, _, err := parseFlags("crm", append([]string{"-data", t.TempDir()}, c.args...), io.Discard)
		require.NoError(t, err)
		if c.ok {
			assert.NoError(t, cfg.tls.check(), "%v", c.args)
		} else {
			assert.Error(t, cfg.tls.check(), "%v", c.args)
		}
	}
	cfg, _, err := parseFlags("crm", []string{"-data", t.TempDir(), "-tls", "-acme-directory", "http://ca.example/dir"}, io.Discard)
	require.NoError(t, err)
	a, err := newApp(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	t.Cleanup(a.close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	_, err = a.serveTLS(ln)
	assert.Error(t, err, "an ACME directory over plain HTTP is refused")
}
