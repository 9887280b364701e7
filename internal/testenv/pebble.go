package testenv

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// PebbleConfig is what a test sets on its Pebble: where Pebble validates
// challenges (the server under test's ports) and how long its
// certificates live.
type PebbleConfig struct {
	// TLSPort is the port Pebble connects to for tls-alpn-01 challenges:
	// the server under test's TLS port.
	TLSPort int
	// HTTPPort is the port Pebble connects to for http-01 challenges.
	HTTPPort int
	// Validity is the lifetime of the certificates Pebble issues, in
	// whole seconds (zero: Pebble's default of five years).
	Validity time.Duration
}

// Pebble is a Pebble ACME server (Let's Encrypt's test CA) of the test's
// own on free loopback ports. Its ACME and management listeners serve
// HTTPS with a throwaway CA made in the test's temp dir (CAFile); the
// certificates it issues chain to a root it generates at start (Roots),
// trusted only by what the test gives it to. Every name Pebble validates
// resolves to 127.0.0.1 through a DNS server of the test's own, so its
// challenge checks reach the server under test on PebbleConfig's ports.
// It is stopped when the test ends. Safe for concurrent use.
type Pebble struct {
	mgmt   string
	dirURL string
	ca     *x509.CertPool
	caFile string
	roots  *x509.CertPool

	mu     sync.Mutex
	orders int
	issued int
	log    strings.Builder
}

// StartPebble starts a Pebble. Without pebble on PATH the test is skipped,
// or failed when services are required.
func StartPebble(t testing.TB, cfg PebbleConfig) *Pebble {
	t.Helper()
	bin, err := exec.LookPath("pebble")
	if err != nil {
		Unavailable(t, "pebble (on PATH; on Debian: apt-get install pebble)", err)
	}
	dir := t.TempDir()
	p := &Pebble{}
	caPEM, certPEM, keyPEM := throwawayCA(t)
	p.caFile = filepath.Join(dir, "ca.pem")
	for name, b := range map[string][]byte{"ca.pem": caPEM, "cert.pem": certPEM, "key.pem": keyPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	p.ca = x509.NewCertPool()
	p.ca.AppendCertsFromPEM(caPEM)

	dns := startDNS(t)
	acmeAddr := "127.0.0.1:" + strconv.Itoa(FreePort(t))
	p.mgmt = "127.0.0.1:" + strconv.Itoa(FreePort(t))
	conf := map[string]any{"pebble": map[string]any{
		"listenAddress":                  acmeAddr,
		"managementListenAddress":        p.mgmt,
		"certificate":                    filepath.Join(dir, "cert.pem"),
		"privateKey":                     filepath.Join(dir, "key.pem"),
		"httpPort":                       cfg.HTTPPort,
		"tlsPort":                        cfg.TLSPort,
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": false,
		"certificateValidityPeriod":      int64(cfg.Validity / time.Second),
	}}
	b, err := json.Marshal(conf)
	if err != nil {
		t.Fatal(err)
	}
	confFile := filepath.Join(dir, "pebble.json")
	if err := os.WriteFile(confFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-config", confFile, "-dnsserver", dns, "-strict=false")
	// No random sleeps before validation, and no nonce rejected on
	// purpose: the tests measure orders, not client retries.
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatalf("pebble: %v", err)
	}
	done := make(chan struct{})
	go func() {
		p.scan(out)
		_ = cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("pebble log:\n%s", p.Log())
		}
	})

	// Ready when the management interface answers: it starts before the
	// ACME listener, so ask for the directory too.
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.ca}}}
	defer c.CloseIdleConnections()
	var root, directory []byte
	ready := func() (err error) {
		if root, err = get(c, "https://"+p.mgmt+"/roots/0"); err != nil {
			return err
		}
		directory, err = get(c, "https://"+acmeAddr+"/dir")
		return err
	}
	if err := waitReady("pebble", 15*time.Second, done, ready, p.Log); err != nil {
		t.Fatal(err)
	}
	var d struct{ NewOrder string }
	if err := json.Unmarshal(directory, &d); err != nil || !strings.HasSuffix(d.NewOrder, "/order-plz") {
		t.Fatalf("pebble: its directory's newOrder is not the /order-plz its orders are counted by: %s", directory)
	}
	p.roots = x509.NewCertPool()
	if !p.roots.AppendCertsFromPEM(root) {
		t.Fatalf("pebble: /roots/0 is not PEM: %q", root)
	}
	p.dirURL = "https://" + acmeAddr + "/dir"
	return p
}

// scan keeps Pebble's log and counts orders: Pebble logs every request
// it serves as "POST /order-plz -> calling handler()", and /order-plz is
// its newOrder endpoint (see its /dir), so every order asked for is
// counted, including those Pebble refuses.
func (p *Pebble) scan(r io.Reader) {
	s := bufio.NewScanner(r)
	for s.Scan() {
		line := s.Text()
		p.mu.Lock()
		p.log.WriteString(line)
		p.log.WriteByte('\n')
		if strings.Contains(line, " POST /order-plz -> ") {
			p.orders++
		}
		if strings.Contains(line, " Issued certificate serial ") {
			p.issued++
		}
		p.mu.Unlock()
	}
}

func get(c *http.Client, url string) ([]byte, error) {
	resp, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return b, err
}

// DirectoryURL is Pebble's ACME directory.
func (p *Pebble) DirectoryURL() string { return p.dirURL }

// CAFile is the PEM file of the CA that Pebble's own HTTPS listeners (its
// ACME API) chain to: give it to the ACME client.
func (p *Pebble) CAFile() string { return p.caFile }

// Roots is the pool that trusts the certificates Pebble issues: the
// root it generated at start, fetched from its management interface.
func (p *Pebble) Roots() *x509.CertPool { return p.roots }

// Orders is how many newOrder requests Pebble has received.
func (p *Pebble) Orders() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.orders
}

// Issued is how many certificates Pebble has issued.
func (p *Pebble) Issued() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.issued
}

// Log is everything Pebble printed so far.
func (p *Pebble) Log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// throwawayCA makes a CA and a leaf for 127.0.0.1 and localhost signed by
// it, valid for a day, as PEM: the CA, the leaf, the leaf's key.
func throwawayCA(t testing.TB) (caPEM, certPEM, keyPEM []byte) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tenantwall test CA " + Name("")},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}
