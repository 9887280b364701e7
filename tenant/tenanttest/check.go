package tenanttest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// CheckHTTPIsolation proves a service's tenant isolation the way the
// source plan's testing strategy asks, for every endpoint and every
// ordered pair of tenants (X, Y):
//
//   - Y's list never returns X's items (their ids or planted markers), nor
//     X's secrets;
//   - GET, PATCH, PUT and DELETE of X's item under Y answer 404, with the
//     same status and body as an unknown id, and X's item is unchanged;
//   - a tenant field in a create or update body is refused or ignored;
//   - X's cookies and token, if it has any, are refused on Y's host (a
//     service that takes the tenant from the host alone, without sign-in,
//     has none and skips this check);
//   - Y cannot download X's files (404);
//   - a cached endpoint warmed by X does not answer Y with X's data;
//   - Set-Cookie headers are host-only and HttpOnly (and Secure).
//
// Every failure names the endpoint, the tenants and the evidence.
func CheckHTTPIsolation(t T, s HTTPSuite) {
	t.Helper()
	sess, stop := s.start()
	defer stop()
	if s.Tenants == nil {
		t.Errorf("tenanttest: HTTPSuite.Tenants is required")
		return
	}
	tenants, err := s.Tenants(sess)
	if err != nil || len(tenants) < 2 {
		t.Errorf("tenanttest: need two or more tenants: got %d, %v", len(tenants), err)
		return
	}
	for _, tn := range tenants {
		for _, ck := range tn.Cookies {
			// Cookies read from a response keep their Set-Cookie line.
			if ck.Raw == "" {
				continue
			}
			if err := CheckCookies([]string{ck.Raw}, s.AllowInsecureCookies); err != nil {
				t.Errorf("tenant %s: %v", tn.Name, err)
			}
		}
	}
	for _, ep := range s.Endpoints {
		ep.defaults()
		for _, x := range tenants {
			for _, y := range tenants {
				if x.Name != y.Name {
					checkEndpoint(t, sess, ep, x, y, s.AllowInsecureCookies)
				}
			}
		}
	}
	for _, fe := range s.Files {
		for _, x := range tenants {
			for _, y := range tenants {
				if x.Name != y.Name {
					checkFile(t, sess, fe, x, y)
				}
			}
		}
	}
	for _, ce := range s.Cached {
		checkCached(t, sess, s, ce, tenants)
	}
}

func (ep *Endpoint) defaults() {
	if ep.IDField == "" {
		ep.IDField = "id"
	}
	if ep.ListField == "" {
		ep.ListField = "results"
	}
	if ep.UnknownID == "" {
		ep.UnknownID = "999999999"
	}
}

// create makes an item for c and returns its id and JSON.
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
	id := fmt.Sprint(obj[ep.IDField])
	if obj[ep.IDField] == nil {
		return "", nil, fmt.Errorf("create answer has no %q: %.200s", ep.IDField, res.Body)
	}
	return id, res.Body, nil
}

func checkEndpoint(t T, sess *Session, ep Endpoint, x, y Tenant, allowInsecure bool) {
	t.Helper()
	cx, cy := sess.Client(x), sess.Client(y)
	where := fmt.Sprintf("%s: item of %s requested by %s", ep.Name, x.Name, y.Name)
	marker := Marker(x.Name)
	id, _, err := createItem(cx, ep, marker)
	if err != nil {
		t.Errorf("%s: %v", where, err)
		return
	}
	before, err := cx.Do("GET", ep.Item(id), nil, "")
	if err != nil || before.Code != http.StatusOK {
		t.Errorf("%s: %s cannot read its own item %s: %d %v", where, x.Name, id, before.Code, err)
		return
	}

	// Lists.
	list, err := cy.Do("GET", ep.Collection, nil, "")
	if err != nil || list.Code != http.StatusOK {
		t.Errorf("%s: list as %s: %d %v", where, y.Name, list.Code, err)
	} else {
		if err := NoForeignIdentifiers(list.Body, append([]string{marker}, x.Secrets...)...); err != nil {
			t.Errorf("%s: list of %s leaks: %v", where, y.Name, err)
		}
		if ids, err := listIDs(list.Body, ep); err != nil {
			t.Errorf("%s: list: %v", where, err)
		} else if ids[id] {
			t.Errorf("%s: list of %s contains %s's id %s", where, y.Name, x.Name, id)
		}
	}

	// Item access answers exactly like an unknown id.
	type probe struct {
		method string
		body   any
	}
	probes := []probe{{"GET", nil}, {"DELETE", nil}}
	if ep.Update != nil {
		probes = append(probes, probe{"PATCH", ep.Update})
	}
	if ep.Put != nil {
		probes = append(probes, probe{"PUT", ep.Put(Marker(y.Name))})
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

	// Stolen credentials: only a service that authenticates has any. One
	// that takes the tenant from the host alone serves y's host to anyone,
	// and the list and item checks above already cover it.
	if x.hasCredentials() {
		stolen, err := cx.As(y.Host).Do("GET", ep.Collection, nil, "")
		switch {
		case err != nil:
			t.Errorf("%s: with stolen credentials: the request failed, so nothing was proven: %v", where, err)
		case stolen.Code < 400:
			t.Errorf("%s: %s's credentials were accepted on %s's host %s: %d", where, x.Name, y.Name, y.Host, stolen.Code)
		}
		if err == nil {
			if err := NoForeignIdentifiers(stolen.Body, marker); err != nil {
				t.Errorf("%s: with stolen credentials: %v", where, err)
			}
		}
	}

	// A tenant field in the body.
	if ep.TenantField != "" && len(x.Secrets) > 0 {
		body := ep.Create(Marker(y.Name))
		body[ep.TenantField] = x.Secrets[0]
		res, err := cy.Do("POST", ep.Collection, body, "")
		if err == nil && res.Code < 300 {
			var obj map[string]any
			_ = json.Unmarshal(res.Body, &obj)
			planted := fmt.Sprint(obj[ep.IDField])
			if r, err := cx.Do("GET", ep.Item(planted), nil, ""); err == nil && r.Code == http.StatusOK {
				t.Errorf("%s: %s created an item in %s's data through the %q field", where, y.Name, x.Name, ep.TenantField)
			}
		}
		if ep.Update != nil {
			upd := map[string]any{ep.TenantField: firstSecret(y)}
			if res, err := cx.Do("PATCH", ep.Item(id), upd, ""); err == nil && res.Code < 300 {
				if r, err := cy.Do("GET", ep.Item(id), nil, ""); err == nil && r.Code == http.StatusOK {
					t.Errorf("%s: %s moved its item to %s through the %q field", where, x.Name, y.Name, ep.TenantField)
				}
			}
		}
	}
	for _, ck := range before.Header.Values("Set-Cookie") {
		if err := CheckCookies([]string{ck}, allowInsecure); err != nil {
			t.Errorf("%s: %v", where, err)
		}
	}
}

// hasCredentials reports whether the tenant's client signs in.
func (tn Tenant) hasCredentials() bool { return len(tn.Cookies) > 0 || tn.Bearer != "" }

// firstSecret returns the tenant's first secret, or its name.
func firstSecret(tn Tenant) string {
	if len(tn.Secrets) > 0 {
		return tn.Secrets[0]
	}
	return tn.Name
}

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

func checkFile(t T, sess *Session, fe FileEndpoint, x, y Tenant) {
	t.Helper()
	where := fmt.Sprintf("%s: file of %s requested by %s", fe.Name, x.Name, y.Name)
	marker := Marker(x.Name)
	id, err := fe.Upload(sess.Client(x), marker)
	if err != nil {
		t.Errorf("%s: upload: %v", where, err)
		return
	}
	own, err := sess.Client(x).Do("GET", fe.Download(id), nil, "")
	if err != nil || own.Code != http.StatusOK || !bytes.Contains(own.Body, []byte(marker)) {
		t.Errorf("%s: %s cannot download its own file: %d %v", where, x.Name, own.Code, err)
	}
	got, err := sess.Client(y).Do("GET", fe.Download(id), nil, "")
	if err != nil {
		t.Errorf("%s: %v", where, err)
		return
	}
	if got.Code != http.StatusNotFound {
		t.Errorf("%s: download answered %d, want 404", where, got.Code)
	}
	if bytes.Contains(got.Body, []byte(marker)) {
		t.Errorf("%s: %s received %s's file content", where, y.Name, x.Name)
	}
}

// checkCached checks, for each ordered pair (X, Y), that X's writes
// change X's answer and not Y's, and that once X's answer is cached Y is
// not served it. The endpoint must reflect a tenant's own writes (through
// invalidation), and the first endpoint is used to write.
func checkCached(t T, sess *Session, s HTTPSuite, ce CachedEndpoint, tenants []Tenant) {
	t.Helper()
	if len(s.Endpoints) == 0 {
		t.Errorf("%s: cached endpoints need an Endpoint to write through", ce.Name)
		return
	}
	ep := s.Endpoints[0]
	ep.defaults()
	get := func(tn Tenant) ([]byte, bool) {
		r, err := sess.Client(tn).Do("GET", ce.Path, nil, "")
		if err != nil || r.Code != http.StatusOK {
			t.Errorf("%s: reading as %s: %d %v", ce.Name, tn.Name, r.Code, err)
			return nil, false
		}
		return r.Body, true
	}
	for _, x := range tenants {
		for _, y := range tenants {
			if x.Name == y.Name {
				continue
			}
			rY0, ok := get(y)
			if !ok {
				return
			}
			var wX []byte
			for range 5 {
				if _, _, err := createItem(sess.Client(x), ep, Marker(x.Name)); err != nil {
					t.Errorf("%s: writing as %s: %v", ce.Name, x.Name, err)
					return
				}
				if wX, ok = get(x); !ok {
					return
				}
				if !bytes.Equal(wX, rY0) {
					break
				}
			}
			if bytes.Equal(wX, rY0) {
				t.Errorf("%s: after writes by %s its answer is still %s's (%.200s): a cached answer shared between tenants?",
					ce.Name, x.Name, y.Name, wX)
				continue
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
			if err := NoForeignIdentifiers(rY1, x.Secrets...); err != nil {
				t.Errorf("%s: read by %s after %s: %v", ce.Name, y.Name, x.Name, err)
			}
		}
	}
}

// ConcurrentOptions tunes CheckConcurrent.
type ConcurrentOptions struct {
	Goroutines int           // per tenant; default 8
	Duration   time.Duration // default 2s
	Requests   int           // per goroutine at most; default 200
}

// ConcurrentReport is what CheckConcurrent measured.
type ConcurrentReport struct {
	Requests   int64
	Leaks      int64
	Errors     int64
	Elapsed    time.Duration
	Throughput float64 // requests per second
}

// CheckConcurrent drives the endpoints with N tenants × M goroutines, each
// creating, listing and reading items with its own markers, and checks
// every response for another tenant's markers. Any leak is a failure;
// zero are tolerated. It returns the throughput it measured.
func CheckConcurrent(t T, s HTTPSuite, o ConcurrentOptions) ConcurrentReport {
	t.Helper()
	if o.Goroutines <= 0 {
		o.Goroutines = 8
	}
	if o.Duration <= 0 {
		o.Duration = 2 * time.Second
	}
	if o.Requests <= 0 {
		o.Requests = 200
	}
	sess, stop := s.start()
	defer stop()
	tenants, err := s.Tenants(sess)
	if err != nil || len(tenants) < 2 || len(s.Endpoints) == 0 {
		t.Errorf("tenanttest: need two tenants and an endpoint: %v", err)
		return ConcurrentReport{}
	}
	prefix := map[string]string{}
	for _, tn := range tenants {
		prefix[tn.Name] = "tw-marker-" + tn.Name + "-"
	}
	var rep ConcurrentReport
	var mu sync.Mutex
	var firstLeak string
	deadline := time.Now().Add(o.Duration)
	start := time.Now()
	var wg sync.WaitGroup
	for _, tn := range tenants {
		for g := range o.Goroutines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := sess.Client(tn)
				ep := s.Endpoints[g%len(s.Endpoints)]
				ep.defaults()
				check := func(body []byte) {
					for other, p := range prefix {
						if other != tn.Name && bytes.Contains(body, []byte(p)) {
							atomic.AddInt64(&rep.Leaks, 1)
							mu.Lock()
							if firstLeak == "" {
								firstLeak = fmt.Sprintf("%s as %s saw a marker of %s", ep.Name, tn.Name, other)
							}
							mu.Unlock()
						}
					}
				}
				for i := 0; i < o.Requests && time.Now().Before(deadline); i++ {
					var res Response
					var err error
					switch i % 3 {
					case 0:
						var id string
						id, _, err = createItem(c, ep, Marker(tn.Name))
						if err == nil {
							res, err = c.Do("GET", ep.Item(id), nil, "")
						}
					default:
						res, err = c.Do("GET", ep.Collection, nil, "")
					}
					atomic.AddInt64(&rep.Requests, 1)
					if err != nil || res.Code >= 500 {
						atomic.AddInt64(&rep.Errors, 1)
						continue
					}
					check(res.Body)
				}
			}()
		}
	}
	wg.Wait()
	rep.Elapsed = time.Since(start)
	rep.Throughput = float64(rep.Requests) / rep.Elapsed.Seconds()
	t.Logf("tenanttest: %d requests by %d tenants × %d goroutines in %v: %.0f req/s, %d leaks, %d errors",
		rep.Requests, len(tenants), o.Goroutines, rep.Elapsed.Round(time.Millisecond), rep.Throughput, rep.Leaks, rep.Errors)
	if rep.Leaks > 0 {
		t.Errorf("tenanttest: %d responses leaked another tenant's data; first: %s", rep.Leaks, firstLeak)
	}
	if rep.Errors > 0 {
		t.Errorf("tenanttest: %d requests failed", rep.Errors)
	}
	return rep
}
