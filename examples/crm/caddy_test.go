package main

import (
	"context"
	"database/sql"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/internal/testenv"
)

// TestCaddyInFront runs Caddy with examples/crm/Caddyfile — on-demand TLS
// whose ask endpoint is the CRM's — against a real ACME CA (Pebble), and
// the CRM on PostgreSQL behind it: the same certificates as with -tls, no
// order for anything else, Caddy's ask contract, and a certificate issued
// while the tenant tables are locked, because the ask is answered from
// memory.
// caddyCRM is Caddy, run on examples/crm/Caddyfile, in front of the CRM
// (run as the binary runs, with -tls-ask-addr), with Pebble as the CA.
type caddyCRM struct {
	httpsEndpoint
	peb              *testenv.Pebble
	caddy            *testenv.Caddy
	crmAddr, askAddr string
	direct           *http.Client
}

// startCaddyCRM starts Pebble (certificates living validity, zero for its
// default), Caddy, and the CRM with the arguments crmArgs returns added
// (nil: none). crmArgs runs after Pebble and Caddy started, so that a
// missing binary skips the test before it makes a database.
func startCaddyCRM(t *testing.T, validity time.Duration, crmArgs func() []string) *caddyCRM {
	t.Helper()
	httpPort, httpsPort := testenv.FreePort(t), testenv.FreePort(t)
	s := &caddyCRM{crmAddr: "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t)), askAddr: "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t)),
		direct: &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	s.peb = testenv.StartPebble(t, testenv.PebbleConfig{TLSPort: httpsPort, HTTPPort: httpPort, Validity: validity})
	// Caddy starts before the CRM is up: it needs it only on a request.
	s.caddy = testenv.StartCaddy(t, testenv.CaddyConfig{Caddyfile: "Caddyfile", HTTPPort: httpPort, HTTPSPort: httpsPort,
		Env: []string{"ACME_CA=" + s.peb.DirectoryURL(), "ACME_CA_ROOT=" + s.peb.CAFile(), "CRM_ADDR=" + s.crmAddr, "CRM_TLS_ASK_ADDR=" + s.askAddr}})
	s.httpsEndpoint = httpsEndpoint{addr: "127.0.0.1:" + strconv.Itoa(httpsPort), roots: s.peb.Roots()}

	var args []string
	if crmArgs != nil {
		args = crmArgs()
	}
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var runErr error
	go func() {
		defer close(done)
		runErr = run(ctx, append([]string{"-addr", s.crmAddr, "-data", t.TempDir(),
			"-operator-token", "op-secret", "-bcrypt-cost", "4", "-base-domain", "saas.test",
			"-secure-cookies", "-tls-ask-addr", s.askAddr}, args...), io.Discard, logs)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		if t.Failed() {
			t.Logf("crm log:\n%s", logs)
		}
	})
	waitListening(t, s.crmAddr, done, func() error { return runErr })
	waitListening(t, s.askAddr, done, func() error { return runErr })
	return s
}

// operator calls the CRM's operator API on its plain HTTP port.
func (s *caddyCRM) operator(t *testing.T, method, path, body string) int {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+s.crmAddr+path, stringsReader(body))
	require.NoError(t, err)
	req.Host = "platform.saas.test"
	req.Header.Set("Authorization", "Bearer op-secret")
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.direct.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// ask calls the ask endpoint as Caddy does.
func (s *caddyCRM) ask(t *testing.T, method, query string) (int, time.Duration, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+s.askAddr+"/ask"+query, nil)
	require.NoError(t, err)
	start := time.Now()
	resp, err := s.direct.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode, time.Since(start), resp.Header
}

// TestCaddyInFront runs Caddy with examples/crm/Caddyfile — on-demand TLS
// whose ask endpoint is the CRM's — against a real ACME CA (Pebble), and
// the CRM on PostgreSQL behind it: the same certificates as with -tls, no
// order for anything else, Caddy's ask contract, and a certificate issued
// while the tenant tables are locked, because the ask is answered from
// memory.
func TestCaddyInFront(t *testing.T) {
	var admin *sql.DB
	s := startCaddyCRM(t, 0, func() []string {
		adminURL, db := testenv.PostgresDB(t)
		role, roleURL := testenv.PostgresRole(t, db, adminURL)
		_, err := db.Exec(`ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ` + role +
			`; ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO ` + role)
		require.NoError(t, err)
		admin = db
		return []string{"-db", roleURL, "-db-admin", adminURL}
	})
	e, peb, crmAddr, direct := s.httpsEndpoint, s.peb, s.crmAddr, s.direct
	operator := func(method, path, body string) int {
		t.Helper()
		return s.operator(t, method, path, body)
	}
	ask := func(method, query string) (int, time.Duration, http.Header) {
		t.Helper()
		return s.ask(t, method, query)
	}

	orders := 0
	expectOrders := func(msg string) {
		t.Helper()
		require.Equal(t, orders, peb.Orders(), "orders Pebble received: %s", msg)
	}
	served := func(host, company string) {
		t.Helper()
		r, err := e.get(host, "/api/tenant-branding/")
		require.NoError(t, err, "%s: a certificate that chains to Pebble's root", host)
		require.Equal(t, http.StatusOK, r.code, host)
		assert.Equal(t, company, r.body["company_name"], "%s reaches its own tenant", host)
		assert.Equal(t, []string{host}, r.cert.DNSNames)
	}
	refused := func(msg string, hosts ...string) {
		t.Helper()
		for _, h := range hosts {
			_, err := e.get(h, "/api/tenant-branding/")
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

	require.Equal(t, http.StatusCreated, operator("POST", "/admin/api/tenants/", `{"slug":"initech","name":"Initech"}`))
	require.Equal(t, http.StatusCreated, operator("POST", "/admin/api/tenants/globex/domains/", `{"host":"pending.globex.test"}`))
	require.Equal(t, http.StatusCreated, operator("POST", "/admin/api/tenants/acme/domains/", `{"host":"old.acme.test","status":"removed"}`))
	require.Equal(t, http.StatusOK, operator("POST", "/admin/api/tenants/initech/suspend/", ""))
	refused("unverified, removed, suspended and unknown hosts",
		"pending.globex.test", "old.acme.test", "initech.saas.test", "nobody.saas.test", "www.saas.test", "unknown.example")

	t.Run("the ask endpoint keeps Caddy's contract", func(t *testing.T) {
		for _, c := range []struct {
			method, query string
			want          int
		}{
			{"GET", "?domain=crm.acme.test", http.StatusOK},
			{"GET", "?domain=platform.saas.test", http.StatusOK},
			{"GET", "?domain=pending.globex.test", http.StatusForbidden},
			{"GET", "?domain=initech.saas.test", http.StatusForbidden},
			{"GET", "?domain=CRM.acme.test", http.StatusForbidden},
			{"GET", "", http.StatusBadRequest},
			{"POST", "?domain=crm.acme.test", http.StatusMethodNotAllowed},
		} {
			code, _, h := ask(c.method, c.query)
			assert.Equal(t, c.want, code, "%s %s", c.method, c.query)
			assert.Empty(t, h.Get("Location"), "never a redirect")
		}
		req, err := http.NewRequest("GET", "http://"+crmAddr+"/ask?domain=crm.acme.test", nil)
		require.NoError(t, err)
		req.Host = "crm.acme.test"
		resp, err := direct.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusNotFound, resp.StatusCode, "the ask endpoint is not on the public listener")
	})

	t.Run("SNI and Host of different tenants are refused with 421", func(t *testing.T) {
		r, err := e.fetch("crm.acme.test", "globex.saas.test", "GET", "/api/tenant-branding/", "", nil)
		require.NoError(t, err)
		assert.Equal(t, http.StatusMisdirectedRequest, r.code)
		assert.NotContains(t, r.body, "company_name")
	})

	t.Run("a certificate is issued while the tenant tables are locked", func(t *testing.T) {
		// A request puts acme.saas.test in the CRM's memory (Caddy has
		// no certificate for it yet).
		req, err := http.NewRequest("GET", "http://"+crmAddr+"/api/tenant-branding/", nil)
		require.NoError(t, err)
		req.Host = "acme.saas.test"
		resp, err := direct.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)

		tx := lockTenantTables(t, admin)
		defer func() { require.NoError(t, tx.Rollback()) }()
		code, took, _ := ask("GET", "?domain=acme.saas.test")
		assert.Equal(t, http.StatusOK, code, "a host in memory is admitted")
		assert.Less(t, took, 5*time.Second, "within the lookup timeout, far within Caddy's")
		code, took, _ = ask("GET", "?domain=never.saas.test")
		assert.Equal(t, http.StatusForbidden, code, "a host not in memory is refused, never admitted blind")
		assert.Less(t, took, 5*time.Second)

		r, err := e.get("acme.saas.test", "/healthz")
		require.NoError(t, err, "Caddy obtained a certificate while the database was stalled")
		assert.Equal(t, http.StatusOK, r.code)
		assert.Equal(t, []string{"acme.saas.test"}, r.cert.DNSNames)
		orders++
		refused("a host not in memory, while the database is stalled", "later.saas.test")
	})

	t.Run("a domain removed or a tenant suspended is no longer served", func(t *testing.T) {
		require.Equal(t, http.StatusCreated, operator("POST", "/admin/api/tenants/acme/domains/", `{"host":"crm.acme.test","status":"removed"}`))
		r, err := e.get("crm.acme.test", "/api/tenant-branding/")
		require.NoError(t, err, "Caddy still holds the certificate it obtained")
		assert.Equal(t, http.StatusNotFound, r.code, "but the CRM serves the removed domain for nobody")
		require.Equal(t, http.StatusOK, operator("POST", "/admin/api/tenants/globex/suspend/", ""))
		r, err = e.get("globex.saas.test", "/api/tenant-branding/")
		require.NoError(t, err)
		assert.Equal(t, http.StatusForbidden, r.code)
		code, _, _ := ask("GET", "?domain=crm.acme.test")
		assert.Equal(t, http.StatusForbidden, code, "Caddy's next ask for the removed domain (a renewal) is refused")
		code, _, _ = ask("GET", "?domain=globex.saas.test")
		assert.Equal(t, http.StatusForbidden, code, "and for the suspended tenant's host")
		expectOrders("nothing was ordered")
	})
}

// lockTenantTables holds an exclusive lock on the tenant store's tables
// until the returned transaction ends: every lookup waits, as on a
// stalled database.
func lockTenantTables(t *testing.T, admin *sql.DB) *sql.Tx {
	t.Helper()
	tx, err := admin.Begin()
	require.NoError(t, err)
	_, err = tx.Exec(`LOCK TABLE tenantwall_tenants, tenantwall_domains IN ACCESS EXCLUSIVE MODE`)
	require.NoError(t, err)
	return tx
}

func stringsReader(s string) io.Reader {
	if s == "" {
		return nil
	}
	return strings.NewReader(s)
}

// TestCaddyRenewalAsksFirst lets Pebble issue certificates that live
// 15 s: Caddy renews an on-demand certificate during a handshake once a
// third of its life is left, and asks the CRM before it does. A removed
// domain and a suspended tenant's host get no renewal order, while an
// active host beside them is renewed.
func TestCaddyRenewalAsksFirst(t *testing.T) {
	s := startCaddyCRM(t, 15*time.Second, nil)
	for _, h := range []string{"crm.acme.test", "globex.saas.test", "acme.saas.test"} {
		r, err := s.get(h, "/healthz")
		require.NoError(t, err, h)
		require.Equal(t, http.StatusOK, r.code)
	}
	require.Equal(t, 3, s.peb.Orders())
	require.Equal(t, http.StatusCreated, s.operator(t, "POST", "/admin/api/tenants/acme/domains/", `{"host":"crm.acme.test","status":"removed"}`))
	require.Equal(t, http.StatusOK, s.operator(t, "POST", "/admin/api/tenants/globex/suspend/", ""))

	refusedRenewal := func(host string) bool {
		for _, line := range strings.Split(s.caddy.Log(), "\n") {
			if strings.Contains(line, `"server_name":"`+host+`"`) && strings.Contains(line, "certificate not allowed by ask endpoint") {
				return true
			}
		}
		return false
	}
	// Caddy renews on a handshake: keep making them until the active
	// host was renewed and both others were refused.
	require.Eventually(t, func() bool {
		for _, h := range []string{"crm.acme.test", "globex.saas.test", "acme.saas.test"} {
			_, _ = s.get(h, "/healthz")
		}
		return s.peb.Orders() >= 4 && refusedRenewal("crm.acme.test") && refusedRenewal("globex.saas.test")
	}, 30*time.Second, 300*time.Millisecond, "Caddy asked before renewing; orders %d", s.peb.Orders())
	assert.Equal(t, 4, s.peb.Orders(), "one renewal, of the active host only")
}
