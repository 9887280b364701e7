package tenanttest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// RunHTTPTests runs the HTTP suite (CheckHTTPIsolation) over the service s
// describes, each check as a subtest of t.
func RunHTTPTests(t *testing.T, s HTTPSuite) {
	t.Helper()
	CheckHTTPIsolation(t, s)
}

// CheckHTTPIsolation proves a service's tenant isolation over HTTP. Each
// check below is a subtest of that name (or, for a T without Run, the
// prefix of its failures), and runs for every endpoint and every ordered
// pair of tenants (X, Y):
//
//   - "cookies are host-only, HttpOnly and Secure": the cookies set at
//     sign-in and by the endpoints' answers;
//   - "lists show only the tenant's own items": Y's list holds none of X's
//     ids, planted markers or secrets;
//   - "another tenant's item answers like an unknown id": GET, PATCH, PUT
//     and DELETE of X's item by Y answer 404 with the very status and body
//     of an unknown id, so ids cannot be probed, and X's item is unchanged;
//   - "credentials are refused on another tenant's host": X's cookies and
//     token are refused on Y's host. Only tenants with credentials are
//     checked; a service that takes the tenant from the host alone has
//     none, serves Y's host to anyone, and is covered by the list and
//     item checks, so the check is skipped;
//   - "a tenant field in a body cannot pick the tenant": with an
//     Endpoint's TenantField, Y cannot create in X's data nor X move its
//     item to Y;
//   - "another tenant's files cannot be downloaded": Y's download of X's
//     file answers 404 without its content;
//   - "cached answers are not shared between tenants": X's writes through
//     the first Endpoint change X's cached answer (so the cache is
//     invalidated) and not Y's, and once X's answer is cached Y is never
//     served it.
//
// A check with nothing to check (no files, no credentials) is skipped.
// Every failure names the endpoint, the tenants and the evidence. A suite
// that cannot be run (no Tenants, fewer than two tenants, two tenants
// sharing a name or host, an endpoint without Item or Create) is one
// failure, and no check runs.
func CheckHTTPIsolation(t T, s HTTPSuite) {
	t.Helper()
	h, stop, ok := start(t, s)
	if !ok {
		return
	}
	defer stop()
	run(t, "cookies are host-only, HttpOnly and Secure", func(t T) { testCookies(t, h) })
	run(t, "lists show only the tenant's own items", func(t T) { testLists(t, h) })
	run(t, "another tenant's item answers like an unknown id", func(t T) { testItems(t, h) })
	run(t, "credentials are refused on another tenant's host", func(t T) { testStolenCredentials(t, h) })
	run(t, "a tenant field in a body cannot pick the tenant", func(t T) { testTenantField(t, h) })
	run(t, "another tenant's files cannot be downloaded", func(t T) { testFiles(t, h) })
	run(t, "cached answers are not shared between tenants", func(t T) { testCached(t, h) })
}

// harness is one run of a suite: the served service and its tenants.
type harness struct {
	srv       *Server
	suite     HTTPSuite
	endpoints []Endpoint // with their defaults
	tenants   []HTTPTenant
}

// start checks the suite, serves the service and signs its tenants in.
// On failure it has reported why and stopped what it started.
func start(t T, s HTTPSuite) (*harness, func(), bool) {
	t.Helper()
	if err := s.validate(); err != nil {
		t.Errorf("tenanttest: %v", err)
		return nil, nil, false
	}
	srv, stop := s.serve()
	tenants, err := s.Tenants(srv)
	if err == nil {
		err = validateTenants(tenants)
	}
	if err != nil {
		stop()
		t.Errorf("tenanttest: HTTPSuite.Tenants: %v", err)
		return nil, nil, false
	}
	h := &harness{srv: srv, suite: s, tenants: tenants}
	for _, ep := range s.Endpoints {
		h.endpoints = append(h.endpoints, ep.withDefaults())
	}
	return h, stop, true
}

// validate refuses a suite whose checks would panic or prove nothing.
func (s HTTPSuite) validate() error {
	var errs []error
	if s.Tenants == nil {
		errs = append(errs, errors.New("HTTPSuite.Tenants is required"))
	}
	if (s.Handler == nil) == (s.BaseURL == "") {
		errs = append(errs, errors.New("set exactly one of HTTPSuite.Handler and HTTPSuite.BaseURL"))
	}
	if len(s.Endpoints)+len(s.Files)+len(s.Cached) == 0 {
		errs = append(errs, errors.New("nothing to check: give Endpoints, Files or Cached"))
	}
	for i, ep := range s.Endpoints {
		if ep.Name == "" || ep.Collection == "" || ep.Item == nil || ep.Create == nil {
			errs = append(errs, fmt.Errorf("HTTPSuite.Endpoints[%d] %q: Name, Collection, Item and Create are required", i, ep.Name))
		}
	}
	for i, fe := range s.Files {
		if fe.Name == "" || fe.Upload == nil || fe.Download == nil {
			errs = append(errs, fmt.Errorf("HTTPSuite.Files[%d] %q: Name, Upload and Download are required", i, fe.Name))
		}
	}
	for i, ce := range s.Cached {
		if ce.Name == "" || ce.Path == "" {
			errs = append(errs, fmt.Errorf("HTTPSuite.Cached[%d] %q: Name and Path are required", i, ce.Name))
		}
	}
	if len(s.Cached) > 0 && len(s.Endpoints) == 0 {
		errs = append(errs, errors.New("HTTPSuite.Cached needs an Endpoint to write through"))
	}
	return errors.Join(errs...)
}

// validateTenants refuses tenants the pairwise checks cannot tell apart.
func validateTenants(tenants []HTTPTenant) error {
	if len(tenants) < 2 {
		return fmt.Errorf("need two or more tenants, got %d", len(tenants))
	}
	names, hosts := map[string]bool{}, map[string]bool{}
	for i, tn := range tenants {
		host := strings.ToLower(tn.Host)
		switch {
		case tn.Name == "" || tn.Host == "":
			return fmt.Errorf("tenant %d (%q): Name and Host are required", i, tn.Name)
		case names[tn.Name]:
			return fmt.Errorf("two tenants are named %q", tn.Name)
		case hosts[host]:
			return fmt.Errorf("two tenants share the host %q: the service cannot tell them apart", tn.Host)
		}
		names[tn.Name], hosts[host] = true, true
	}
	return nil
}

// serve serves the suite's handler, or reaches its base URL.
func (s HTTPSuite) serve() (*Server, func()) {
	if s.Handler != nil {
		ts := httptest.NewServer(s.Handler)
		return &Server{BaseURL: ts.URL, HTTP: ts.Client()}, ts.Close
	}
	return &Server{BaseURL: s.BaseURL, HTTP: http.DefaultClient}, func() {}
}

// eachPair calls f for every ordered pair of distinct tenants.
func (h *harness) eachPair(f func(x, y HTTPTenant)) {
	for i, x := range h.tenants {
		for j, y := range h.tenants {
			if i != j {
				f(x, y)
			}
		}
	}
}

// where names an endpoint and a pair in failures.
func where(ep string, x, y HTTPTenant) string {
	return fmt.Sprintf("%s: item of %s requested by %s", ep, x.Name, y.Name)
}

func testCookies(t T, h *harness) {
	t.Helper()
	allow := h.suite.AllowInsecureCookies
	for _, tn := range h.tenants {
		for _, ck := range tn.Cookies {
			// Only a cookie read from a response keeps its Set-Cookie
			// line; one built by hand has nothing to check.
			if ck.Raw == "" {
				continue
			}
			if err := CheckCookies([]string{ck.Raw}, allow); err != nil {
				t.Errorf("tenant %s: sign-in cookie: %v", tn.Name, err)
			}
		}
	}
	for _, ep := range h.endpoints {
		for _, tn := range h.tenants {
			c := h.srv.Client(tn)
			id, _, err := createItem(c, ep, marker(tn.Name))
			if err != nil {
				t.Errorf("%s: creating as %s: %v", ep.Name, tn.Name, err)
				continue
			}
			for _, path := range []string{ep.Collection, ep.Item(id)} {
				res, err := c.Do("GET", path, nil, "")
				if err != nil {
					t.Errorf("%s: GET %s as %s: %v", ep.Name, path, tn.Name, err)
					continue
				}
				if err := CheckCookies(res.Header.Values("Set-Cookie"), allow); err != nil {
					t.Errorf("%s: GET %s as %s: %v", ep.Name, path, tn.Name, err)
				}
			}
		}
	}
}

func testLists(t T, h *harness) {
	t.Helper()
	for _, ep := range h.endpoints {
		h.eachPair(func(x, y HTTPTenant) {
			where := where(ep.Name, x, y)
			mark := marker(x.Name)
			id, _, err := createItem(h.srv.Client(x), ep, mark)
			if err != nil {
				t.Errorf("%s: %v", where, err)
				return
			}
			list, err := h.srv.Client(y).Do("GET", ep.Collection, nil, "")
			if err != nil || list.Code != http.StatusOK {
				t.Errorf("%s: list as %s: %d %v", where, y.Name, list.Code, err)
				return
			}
			if err := noForeign(list.Body, append([]string{mark}, x.Secrets...)...); err != nil {
				t.Errorf("%s: list of %s leaks: %v", where, y.Name, err)
			}
			if ids, err := listIDs(list.Body, ep); err != nil {
				t.Errorf("%s: list: %v", where, err)
			} else if ids[id] {
				t.Errorf("%s: list of %s contains %s's id %s", where, y.Name, x.Name, id)
			}
		})
	}
}

func testItems(t T, h *harness) {
	t.Helper()
	for _, ep := range h.endpoints {
		h.eachPair(func(x, y HTTPTenant) {
			where := where(ep.Name, x, y)
			cx, cy := h.srv.Client(x), h.srv.Client(y)
			id, _, err := createItem(cx, ep, marker(x.Name))
			if err != nil {
				t.Errorf("%s: %v", where, err)
				return
			}
			before, err := cx.Do("GET", ep.Item(id), nil, "")
			if err != nil || before.Code != http.StatusOK {
				t.Errorf("%s: %s cannot read its own item %s: %d %v", where, x.Name, id, before.Code, err)
				return
			}
			type probe struct {
				method string
				body   any
			}
			probes := []probe{{"GET", nil}, {"DELETE", nil}}
			if ep.Update != nil {
				probes = append(probes, probe{"PATCH", ep.Update})
			}
			if ep.Put != nil {
				probes = append(probes, probe{"PUT", ep.Put(marker(y.Name))})
			}
			for _, p := range probes {
				got, err1 := cy.Do(p.method, ep.Item(id), p.body, "")
				unknown, err2 := cy.Do(p.method, ep.Item(ep.UnknownID), p.body, "")
				if err1 != nil || err2 != nil {
					t.Errorf("%s: %s: %v %v", where, p.method, err1, err2)
					continue
				}
				if got.Code != http.StatusNotFound {
					t.Errorf("%s: %s %s answered %d, want 404: %.200s", where, p.method, ep.Item(id), got.Code, got.Body)
				}
				if got.Code != unknown.Code || !bytes.Equal(got.Body, unknown.Body) {
					t.Errorf("%s: %s of another tenant's item (%d %.100q) differs from an unknown id (%d %.100q): ids can be probed",
						where, p.method, got.Code, got.Body, unknown.Code, unknown.Body)
				}
			}
			after, err := cx.Do("GET", ep.Item(id), nil, "")
			if err != nil || after.Code != http.StatusOK || !bytes.Equal(after.Body, before.Body) {
				t.Errorf("%s: %s's item changed or vanished after %s's attempts: %d %.200s", where, x.Name, y.Name, after.Code, after.Body)
			}
		})
	}
}

func testStolenCredentials(t T, h *harness) {
	t.Helper()
	signedIn := 0
	for _, tn := range h.tenants {
		if tn.hasCredentials() {
			signedIn++
		}
	}
	switch {
	case signedIn == 0:
		skip(t, "no tenant has credentials: the service takes the tenant from the host alone")
		return
	case len(h.endpoints) == 0:
		skip(t, "no Endpoints to send stolen credentials to")
		return
	}
	for _, ep := range h.endpoints {
		h.eachPair(func(x, y HTTPTenant) {
			if !x.hasCredentials() {
				return
			}
			where := where(ep.Name, x, y)
			cx := h.srv.Client(x)
			mark := marker(x.Name)
			if _, _, err := createItem(cx, ep, mark); err != nil {
				t.Errorf("%s: %v", where, err)
				return
			}
			stolen, err := cx.as(y.Host).Do("GET", ep.Collection, nil, "")
			if err != nil {
				t.Errorf("%s: with stolen credentials: the request failed, so nothing was proven: %v", where, err)
				return
			}
			if stolen.Code < 400 {
				t.Errorf("%s: %s's credentials were accepted on %s's host %s: %d", where, x.Name, y.Name, y.Host, stolen.Code)
			}
			if err := noForeign(stolen.Body, mark); err != nil {
				t.Errorf("%s: with stolen credentials: %v", where, err)
			}
		})
	}
}

func testTenantField(t T, h *harness) {
	t.Helper()
	checked := false
	for _, ep := range h.endpoints {
		if ep.TenantField == "" {
			continue
		}
		h.eachPair(func(x, y HTTPTenant) {
			if len(x.Secrets) == 0 {
				return
			}
			checked = true
			where := where(ep.Name, x, y)
			cx, cy := h.srv.Client(x), h.srv.Client(y)
			id, _, err := createItem(cx, ep, marker(x.Name))
			if err != nil {
				t.Errorf("%s: %v", where, err)
				return
			}
			body := ep.Create(marker(y.Name))
			body[ep.TenantField] = x.Secrets[0]
			if res, err := cy.Do("POST", ep.Collection, body, ""); err == nil && res.Code < 300 {
				var obj map[string]any
				_ = json.Unmarshal(res.Body, &obj)
				planted := fmt.Sprint(obj[ep.IDField])
				if r, err := cx.Do("GET", ep.Item(planted), nil, ""); err == nil && r.Code == http.StatusOK {
					t.Errorf("%s: %s created an item in %s's data through the %q field", where, y.Name, x.Name, ep.TenantField)
				}
			}
			if ep.Update == nil {
				return
			}
			upd := map[string]any{ep.TenantField: firstSecret(y)}
			if res, err := cx.Do("PATCH", ep.Item(id), upd, ""); err == nil && res.Code < 300 {
				if r, err := cy.Do("GET", ep.Item(id), nil, ""); err == nil && r.Code == http.StatusOK {
					t.Errorf("%s: %s moved its item to %s through the %q field", where, x.Name, y.Name, ep.TenantField)
				}
			}
		})
	}
	if !checked {
		skip(t, "no Endpoint has a TenantField, or no tenant has Secrets")
	}
}

func testFiles(t T, h *harness) {
	t.Helper()
	if len(h.suite.Files) == 0 {
		skip(t, "no Files")
		return
	}
	for _, fe := range h.suite.Files {
		h.eachPair(func(x, y HTTPTenant) {
			where := fmt.Sprintf("%s: file of %s requested by %s", fe.Name, x.Name, y.Name)
			mark := marker(x.Name)
			id, err := fe.Upload(h.srv.Client(x), mark)
			if err != nil {
				t.Errorf("%s: upload: %v", where, err)
				return
			}
			own, err := h.srv.Client(x).Do("GET", fe.Download(id), nil, "")
			if err != nil || own.Code != http.StatusOK || !bytes.Contains(own.Body, []byte(mark)) {
				t.Errorf("%s: %s cannot download its own file: %d %v", where, x.Name, own.Code, err)
			}
			got, err := h.srv.Client(y).Do("GET", fe.Download(id), nil, "")
			if err != nil {
				t.Errorf("%s: %v", where, err)
				return
			}
			if got.Code != http.StatusNotFound {
				t.Errorf("%s: download answered %d, want 404", where, got.Code)
			}
			if bytes.Contains(got.Body, []byte(mark)) {
				t.Errorf("%s: %s received %s's file content", where, y.Name, x.Name)
			}
		})
	}
}

// testCached checks, for each ordered pair (X, Y), that X's writes change
// X's answer and not Y's, and that once X's answer is cached Y is not
// served it. The endpoint must reflect a tenant's own writes (through
// invalidation); the first Endpoint is used to write.
func testCached(t T, h *harness) {
	t.Helper()
	if len(h.suite.Cached) == 0 {
		skip(t, "no Cached endpoints")
		return
	}
	ep := h.endpoints[0]
	for _, ce := range h.suite.Cached {
		get := func(tn HTTPTenant) ([]byte, bool) {
			r, err := h.srv.Client(tn).Do("GET", ce.Path, nil, "")
			if err != nil || r.Code != http.StatusOK {
				t.Errorf("%s: reading as %s: %d %v", ce.Name, tn.Name, r.Code, err)
				return nil, false
			}
			return r.Body, true
		}
		h.eachPair(func(x, y HTTPTenant) {
			rY0, ok := get(y)
			if !ok {
				return
			}
			// Warm x's own answer first: its writes must replace it, or
			// the cache is not invalidated.
			rX0, ok := get(x)
			if !ok {
				return
			}
			var wX []byte
			for range 5 {
				if _, _, err := createItem(h.srv.Client(x), ep, marker(x.Name)); err != nil {
					t.Errorf("%s: writing as %s: %v", ce.Name, x.Name, err)
					return
				}
				if wX, ok = get(x); !ok {
					return
				}
				if !bytes.Equal(wX, rY0) && !bytes.Equal(wX, rX0) {
					break
				}
			}
			if bytes.Equal(wX, rX0) {
				t.Errorf("%s: after writes by %s its cached answer is unchanged (%.200s): the tenant's writes do not invalidate it",
					ce.Name, x.Name, wX)
				return
			}
			if bytes.Equal(wX, rY0) {
				t.Errorf("%s: after writes by %s its answer is still %s's (%.200s): a cached answer shared between tenants?",
					ce.Name, x.Name, y.Name, wX)
				return
			}
			rY1, ok := get(y)
			if !ok {
				return
			}
			if bytes.Equal(rY1, wX) {
				t.Errorf("%s: warmed by %s, read by %s: %s received %s's cached answer %.200s", ce.Name, x.Name, y.Name, y.Name, x.Name, rY1)
			} else if !bytes.Equal(rY1, rY0) {
				t.Errorf("%s: %s's answer changed after writes by %s only: %.200s, then %.200s", ce.Name, y.Name, x.Name, rY0, rY1)
			}
			if err := noForeign(rY1, x.Secrets...); err != nil {
				t.Errorf("%s: read by %s after %s: %v", ce.Name, y.Name, x.Name, err)
			}
		})
	}
}

// createItem makes an item for c's tenant and returns its id and JSON.
func createItem(c *Client, ep Endpoint, marker string) (string, []byte, error) {
	res, err := c.Do("POST", ep.Collection, ep.Create(marker), "")
	if err != nil {
		return "", nil, err
	}
	if res.Code != http.StatusCreated && res.Code != http.StatusOK {
		return "", nil, fmt.Errorf("create answered %d: %.200s", res.Code, res.Body)
	}
	var obj map[string]any
	if err := json.Unmarshal(res.Body, &obj); err != nil {
		return "", nil, fmt.Errorf("create answered non-JSON: %.200s", res.Body)
	}
	if obj[ep.IDField] == nil {
		return "", nil, fmt.Errorf("create answer has no %q: %.200s", ep.IDField, res.Body)
	}
	return fmt.Sprint(obj[ep.IDField]), res.Body, nil
}

// listIDs returns the ids in a list answer.
func listIDs(body []byte, ep Endpoint) (map[string]bool, error) {
	var items []map[string]any
	if ep.ListField == "-" {
		if err := json.Unmarshal(body, &items); err != nil {
			return nil, fmt.Errorf("not a JSON array: %.200s", body)
		}
	} else {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(body, &obj); err != nil {
			return nil, fmt.Errorf("not a JSON object: %.200s", body)
		}
		if err := json.Unmarshal(obj[ep.ListField], &items); err != nil {
			return nil, fmt.Errorf("no %q array: %.200s", ep.ListField, body)
		}
	}
	ids := map[string]bool{}
	for _, it := range items {
		ids[fmt.Sprint(it[ep.IDField])] = true
	}
	return ids, nil
}

// firstSecret returns the tenant's first secret, or its name.
func firstSecret(tn HTTPTenant) string {
	if len(tn.Secrets) > 0 {
		return tn.Secrets[0]
	}
	return tn.Name
}

// marker returns a unique string naming a tenant, to plant in created
// items and look for in other tenants' answers.
func marker(tenantName string) string {
	return "tw-marker-" + tenantName + "-" + randomHex()
}

// randomHex returns 12 random hex characters.
func randomHex() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// noForeign reports the first of foreign found in body, if any.
func noForeign(body []byte, foreign ...string) error {
	for _, f := range foreign {
		if f != "" && bytes.Contains(body, []byte(f)) {
			return fmt.Errorf("response contains another tenant's identifier %q", f)
		}
	}
	return nil
}
