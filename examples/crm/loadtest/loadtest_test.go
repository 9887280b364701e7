package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// twoTenants is the ground truth of the checks below: acme owns 1 and 2,
// globex owns 7.
func twoTenants(t *testing.T) *ownership {
	t.Helper()
	o := newOwnership()
	require.NoError(t, o.add("acme", []lead{{1, "Wile E. Coyote"}, {2, "Road Runner"}}))
	require.NoError(t, o.add("globex", []lead{{7, "Hank Scorpio"}}))
	return o
}

func TestCheckList(t *testing.T) {
	o := twoTenants(t)
	tests := []struct {
		name string
		body string
		want error
	}{
		{"a list of the tenant's own leads passes", `{"results":[{"id":1,"name":"Wile E. Coyote"},{"id":2,"name":"Road Runner"}]}`, nil},
		{"an empty list passes", `{"results":[]}`, nil},
		{"a list holding one lead of another tenant is foreign", `{"results":[{"id":1,"name":"Wile E. Coyote"},{"id":7,"name":"Hank Scorpio"}]}`, errForeign},
		{"a list holding only another tenant's lead is foreign", `{"results":[{"id":7,"name":"Hank Scorpio"}]}`, errForeign},
		{"a foreign lead renamed to look like one of ours is still foreign", `{"results":[{"id":7,"name":"Road Runner"}]}`, errForeign},
		{"a lead no tenant owned is refused", `{"results":[{"id":99,"name":"Stranger"}]}`, errUnknown},
		{"an own lead with another name is refused", `{"results":[{"id":2,"name":"Hank Scorpio"}]}`, errMismatch},
		{"a lead without an id is refused", `{"results":[{"name":"Wile E. Coyote"}]}`, errUnknown},
		{"an answer without results is malformed", `{"items":[]}`, errMalformed},
		{"results that are not an array are malformed", `{"results":{"id":7}}`, errMalformed},
		{"a null results is malformed", `{"results":null}`, errMalformed},
		{"a bare array is malformed", `[{"id":1,"name":"Wile E. Coyote"}]`, errMalformed},
		{"an HTML page is malformed", `<html>ok</html>`, errMalformed},
		{"an empty body is malformed", ``, errMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := o.checkList("acme", []byte(tt.body))
			if tt.want == nil {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, tt.want)
		})
	}
}

func TestCheckRead(t *testing.T) {
	o := twoTenants(t)
	tests := []struct {
		name string
		id   int64
		body string
		want error
	}{
		{"the lead asked for passes", 2, `{"id":2,"name":"Road Runner","phone":""}`, nil},
		{"another tenant's lead is foreign", 1, `{"id":7,"name":"Hank Scorpio"}`, errForeign},
		{"another own lead than the one asked for is a mismatch", 1, `{"id":2,"name":"Road Runner"}`, errMismatch},
		{"a lead no tenant owned is refused", 1, `{"id":99,"name":"Wile E. Coyote"}`, errUnknown},
		{"the lead asked for under another name is a mismatch", 1, `{"id":1,"name":"Hank Scorpio"}`, errMismatch},
		{"an answer without an id is malformed", 1, `{"name":"Wile E. Coyote"}`, errMalformed},
		{"a list instead of a lead is malformed", 1, `{"results":[{"id":1,"name":"Wile E. Coyote"}]}`, errMalformed},
		{"an id that is a string is malformed", 1, `{"id":"1","name":"Wile E. Coyote"}`, errMalformed},
		{"not JSON is malformed", 1, `not found`, errMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := o.checkRead("acme", tt.id, []byte(tt.body))
			if tt.want == nil {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, tt.want)
		})
	}
}

func TestOwnershipRefusesALeadListedByTwoTenantsAtSetup(t *testing.T) {
	o := twoTenants(t)
	err := o.add("initech", []lead{{3, "Bill Lumbergh"}, {7, "Hank Scorpio"}})
	require.ErrorIs(t, err, errForeign)
	assert.Contains(t, err.Error(), `"globex"`)
}

func TestPercentile(t *testing.T) {
	ds := make([]time.Duration, 100)
	for i := range ds {
		ds[i] = time.Duration(100-i) * time.Millisecond // unsorted on purpose
	}
	s := sortedCopy(ds)
	assert.Equal(t, 100*time.Millisecond, ds[0], "sortedCopy leaves its input alone")
	for _, tt := range []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {90, 90 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {0.1, time.Millisecond}} {
		assert.Equal(t, tt.want, percentile(s, tt.p), "p%v", tt.p)
	}
	assert.Zero(t, percentile(nil, 50), "no samples have no percentile")
	assert.Equal(t, time.Second, percentile([]time.Duration{time.Second}, 50), "one sample is every percentile")
}

func TestFlagsRefuseWhatLeavesTheMachine(t *testing.T) {
	for _, raw := range []string{
		"http://10.0.0.1:8080", "http://example.com", "http://127.0.0.1.nip.io:8080", "https://127.0.0.1:8080",
		"http://user@127.0.0.1:8080", "http://127.0.0.1:8080/api", "http://[::ffff:10.0.0.1]:80", "127.0.0.1:8080",
		"http://0.0.0.0:8080", "http://localhost.example.com", "http://localhost:8080",
	} {
		t.Run("the URL "+raw+" is refused", func(t *testing.T) {
			_, err := parseFlags([]string{"-url", raw}, &bytes.Buffer{})
			assert.Error(t, err)
		})
	}
	for _, raw := range []string{"http://127.0.0.1:18080", "http://[::1]:18080/", "http://127.9.9.9:1"} {
		t.Run("the URL "+raw+" is accepted", func(t *testing.T) {
			_, err := parseFlags([]string{"-url", raw}, &bytes.Buffer{})
			assert.NoError(t, err)
		})
	}
}

// fakeCRM answers like the reference server for the demo tenants; after
// leakAfter lead requests (0: never) it answers acme's lists with one of
// globex's leads added, as a server with a broken scope would.
func fakeCRM(t *testing.T, leakAfter int64) *httptest.Server {
	t.Helper()
	leads := map[string][]lead{
		"acme.localhost":   {{1, "Wile E. Coyote"}, {2, "Road Runner"}},
		"globex.localhost": {{7, "Hank Scorpio"}},
	}
	var served atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/auth/token/", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"access": "token-of-" + r.Host})
	})
	mux.HandleFunc("GET /api/leads/", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer token-of-"+r.Host {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		list := leads[r.Host]
		if n := served.Add(1); leakAfter > 0 && n > leakAfter && r.Host == "acme.localhost" {
			list = append(list[:len(list):len(list)], leads["globex.localhost"]...)
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"results": list})
	})
	mux.HandleFunc("GET /api/leads/{id}/", func(w http.ResponseWriter, r *http.Request) {
		for _, l := range leads[r.Host] {
			if r.PathValue("id") == jsonNumber(l.ID) {
				_ = json.NewEncoder(w).Encode(l)
				return
			}
		}
		http.NotFound(w, r)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func jsonNumber(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestRun(t *testing.T) {
	tests := []struct {
		name      string
		leakAfter int64
		wantCode  int
		wantOut   []string
	}{
		{"a server that keeps every tenant to its own leads passes", 0, 0,
			[]string{"statuses   200: 400", "violations 0", "p50 ", "p90 ", "p99 ", "max ", "req/s"}},
		{"a server that leaks one tenant's lead into another's list fails", 40, 1,
			[]string{"another tenant's lead", `tenant "acme" got lead 7 "Hank Scorpio" of tenant "globex"`, "FAIL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := fakeCRM(t, tt.leakAfter)
			var out, errOut bytes.Buffer
			code := run(context.Background(), []string{"-url", srv.URL, "-clients", "4", "-duration", "1m", "-requests", "400"}, &out, &errOut)
			assert.Equal(t, tt.wantCode, code, "stdout:\n%s\nstderr:\n%s", &out, &errOut)
			for _, w := range tt.wantOut {
				assert.Contains(t, out.String(), w)
			}
		})
	}
}

func TestRunCountsAnswersOtherThan200AsFailures(t *testing.T) {
	srv := fakeCRM(t, 0)
	var served atomic.Int64
	// Every tenth request after setup answers 503, as an overloaded server would.
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && served.Add(1) > 2 && served.Load()%10 == 0 {
			w.Header().Set("Retry-After", "1")
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		srv.Config.Handler.ServeHTTP(w, r)
	}))
	t.Cleanup(flaky.Close)
	var out bytes.Buffer
	code := run(context.Background(), []string{"-url", flaky.URL, "-clients", "2", "-requests", "100"}, &out, &bytes.Buffer{})
	assert.Equal(t, 1, code, out.String())
	assert.Contains(t, out.String(), "503: ")
	assert.Contains(t, out.String(), "violations 0", "a 503 is a failure, not a leak")
}

func TestRunRefusesToStartWithoutGroundTruth(t *testing.T) {
	srv := fakeCRM(t, 0)
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"a tenant the server does not know cannot be set up", []string{"-tenants", "acme,initech"}, 2},
		{"no tenant at all is a usage error", []string{"-tenants", " , "}, 2},
		{"zero clients is a usage error", []string{"-clients", "0"}, 2},
		{"a user pattern without the slug is a usage error", []string{"-email", "admin@acme.test"}, 2},
		{"a user pattern with another verb is a usage error", []string{"-email", "%s@%d.test"}, 2},
		{"an endless duration is a usage error", []string{"-duration", "0s"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(context.Background(), append([]string{"-url", srv.URL, "-requests", "20"}, tt.args...), &out, &errOut)
			assert.Equal(t, tt.want, code, "stdout:\n%s\nstderr:\n%s", &out, &errOut)
			if tt.want != 0 {
				assert.NotContains(t, out.String(), "ok:")
			}
		})
	}
}
