package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"

	"github.com/tenantwall/tenantwall/resolve"
)

// tlsConfig is how the server gets certificates for its tenants' hosts:
// by terminating TLS itself with certificates from an ACME CA, on demand
// (-tls), or by answering the on-demand TLS "ask" of a proxy in front,
// such as Caddy (-tls-ask-addr). Both admit exactly what
// resolve.CertPolicy admits.
type tlsConfig struct {
	on          bool
	directory   string        // ACME directory URL
	caFile      string        // extra roots for the ACME directory's own HTTPS
	email       string        // ACME account contact
	renewBefore time.Duration // zero: autocert's default, a third of the lifetime
	lookups     int           // store lookups per second on the handshake path
	askAddr     string        // where the ask endpoint listens; empty: off
}

// tlsFlags declares the flags of tlsConfig on fs.
func tlsFlags(fs *flag.FlagSet, c *tlsConfig) error {
	fs.BoolVar(&c.on, "tls", envOr("CRM_TLS", "false") == "true",
		"serve HTTPS on -addr, with a certificate from the ACME CA for each tenant host on its first handshake (env CRM_TLS)")
	fs.StringVar(&c.directory, "acme-directory", envOr("CRM_ACME_DIRECTORY", autocert.DefaultACMEDirectory),
		"ACME directory URL of the CA (env CRM_ACME_DIRECTORY)")
	fs.StringVar(&c.caFile, "acme-ca-file", envOr("CRM_ACME_CA_FILE", ""),
		"PEM file of roots the ACME directory's HTTPS certificate chains to, besides the system's (env CRM_ACME_CA_FILE)")
	fs.StringVar(&c.email, "acme-email", envOr("CRM_ACME_EMAIL", ""), "contact address of the ACME account (env CRM_ACME_EMAIL)")
	fs.StringVar(&c.askAddr, "tls-ask-addr", envOr("CRM_TLS_ASK_ADDR", ""),
		"IP:port where a TLS proxy in front (Caddy) asks GET /ask?domain=H whether H may have a certificate; reachable by the proxy only (env CRM_TLS_ASK_ADDR)")
	rb, err := time.ParseDuration(envOr("CRM_ACME_RENEW_BEFORE", "0s"))
	if err != nil {
		return fmt.Errorf("CRM_ACME_RENEW_BEFORE: %w", err)
	}
	fs.DurationVar(&c.renewBefore, "acme-renew-before", rb,
		"renew a certificate this long before it expires (env CRM_ACME_RENEW_BEFORE; default a third of its lifetime)")
	n, err := strconv.Atoi(envOr("CRM_TLS_HANDSHAKE_LOOKUPS", strconv.Itoa(resolve.DefaultHandshakeRate)))
	if err != nil {
		return fmt.Errorf("CRM_TLS_HANDSHAKE_LOOKUPS: %w", err)
	}
	fs.IntVar(&c.lookups, "tls-handshake-lookups", n,
		"most tenant-store lookups per second for handshakes naming hosts not in memory and for the ask endpoint; beyond it they are answered from memory or refused (env CRM_TLS_HANDSHAKE_LOOKUPS)")
	return nil
}

// check refuses a configuration that would not bound what it should.
func (c tlsConfig) check() error {
	if c.lookups <= 0 {
		return fmt.Errorf("-tls-handshake-lookups %d: must be positive", c.lookups)
	}
	if c.renewBefore < 0 {
		return fmt.Errorf("-acme-renew-before %v: negative", c.renewBefore)
	}
	if c.askAddr != "" {
		// An address on every interface would let anyone spend a
		// domain's certificate budget: name the interface.
		ap, err := netip.ParseAddrPort(c.askAddr)
		if err != nil || ap.Addr().IsUnspecified() {
			return fmt.Errorf("-tls-ask-addr %q: want an IP address and port of one interface", c.askAddr)
		}
	}
	return nil
}

// serveTLS starts the ask endpoint when -tls-ask-addr is set and, with
// -tls, returns ln wrapped in TLS with on-demand certificates; otherwise
// ln itself.
func (a *app) serveTLS(ln net.Listener) (net.Listener, error) {
	c := a.cfg.tls
	if !c.on && c.askAddr == "" {
		return ln, nil
	}
	if err := c.check(); err != nil {
		return nil, err
	}
	policy, err := a.resolver.CertPolicy(resolve.WithPlatformHosts(a.cfg.platformHost),
		resolve.WithHandshakeRate(c.lookups, time.Second))
	if err != nil {
		return nil, err
	}
	if c.askAddr != "" {
		if err := a.serveAsk(c.askAddr, policy); err != nil {
			return nil, err
		}
	}
	if !c.on {
		return ln, nil
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if c.caFile != "" {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		pem, err := os.ReadFile(c.caFile)
		if err != nil {
			return nil, fmt.Errorf("-acme-ca-file: %w", err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("-acme-ca-file %s: no PEM certificate", c.caFile)
		}
		transport.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	guard, err := policy.OrderGuard(c.directory, transport)
	if err != nil {
		return nil, fmt.Errorf("-acme-directory: %w", err)
	}
	m := &autocert.Manager{
		Prompt:      autocert.AcceptTOS,
		Cache:       autocert.DirCache(filepath.Join(a.cfg.dataDir, "autocert")),
		HostPolicy:  policy.HostPolicy(),
		Email:       c.email,
		RenewBefore: c.renewBefore,
		Client: &acme.Client{DirectoryURL: c.directory,
			HTTPClient: &http.Client{Transport: refusalLog{guard, a}, Timeout: time.Minute}},
	}
	tc := m.TLSConfig() // h2, http/1.1 and acme-tls/1 for tls-alpn-01
	tc.GetCertificate = policy.GetCertificate(m.GetCertificate)
	tc.MinVersion = tls.VersionTLS12
	a.log.Info("serving HTTPS with on-demand certificates", "acme_directory", c.directory)
	return tls.NewListener(ln, tc), nil
}

// refusalLog logs the ACME requests the order guard refused: autocert
// drops a renewal's error, and the operator should see that a removed
// domain's certificate is left to expire.
type refusalLog struct {
	next http.RoundTripper
	a    *app
}

func (l refusalLog) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := l.next.RoundTrip(req)
	if errors.Is(err, resolve.ErrHostNotAllowed) {
		l.a.log.Warn("acme order refused", "url", req.URL.String(), "err", err)
	}
	return resp, err
}

// serveAsk serves the ask endpoint on its own listener, away from the
// public one.
func (a *app) serveAsk(addr string, policy *resolve.CertPolicy) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("-tls-ask-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/ask", policy.AskHandler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 10 * time.Second, MaxHeaderBytes: 8 << 10}
	go func() { _ = srv.Serve(ln) }()
	a.closers = append(a.closers, srv.Close)
	a.log.Info("tls ask endpoint listening", "addr", ln.Addr().String())
	return nil
}

// misdirected reports a request, over the TLS of -tls, whose Host is
// served for another tenant (or the platform) than the name its handshake
// asked for (SNI): a client that reuses a connection for another host, or
// a forged Host. It is answered 421 Misdirected Request, which tells a
// browser to retry on a connection of its own (RFC 9110 §15.5.20), and
// never served for either tenant. Requests that came without TLS (behind
// a proxy), or over TLS the server did not terminate with -tls, are not
// concerned.
func (a *app) misdirected(r *http.Request) bool {
	if r.TLS == nil || !a.cfg.tls.on {
		return false
	}
	sni, err := resolve.Normalize(r.TLS.ServerName)
	if err != nil {
		return true
	}
	host, err := a.resolver.Host(r)
	if err != nil {
		return true
	}
	if sni == host {
		return false
	}
	s, h := a.site(r, sni), a.site(r, host)
	return s == "" || s != h
}

// site is who a host is served for: "platform", a tenant ID, or "" for
// nobody.
func (a *app) site(r *http.Request, host string) string {
	if host == a.cfg.platformHost {
		return "platform"
	}
	t, err := a.resolver.Resolve(r.Context(), host)
	if err != nil {
		return ""
	}
	return "tenant " + t.ID
}
