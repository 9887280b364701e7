package tenanttest_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/tenantwall/tenantwall/resolve"
	"github.com/tenantwall/tenantwall/tenant"
	"github.com/tenantwall/tenantwall/tenant/tenanttest"
)

// newNotes returns a tiny notes service to show the kit on. Each tenant is
// a host, and notes are kept apart by it (a real service resolves the host
// with resolve.Middleware). With signIn, every request also needs the
// bearer token that POST /login/ gave for that host. With leakyList, the
// list forgets to filter by tenant: the bug the kit exists to catch.
func newNotes(signIn, leakyList bool) http.Handler {
	type note struct {
		ID   int    `json:"id"`
		Text string `json:"text"`
		host string
	}
	var (
		mu     sync.Mutex
		notes  = map[int]note{}
		tokens = map[string]string{} // token → host
	)
	reply := func(w http.ResponseWriter, code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(v)
	}
	mine := func(r *http.Request) (note, bool) {
		id, _ := strconv.Atoi(r.PathValue("id"))
		n, ok := notes[id]
		return n, ok && n.host == r.Host
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login/", func(w http.ResponseWriter, r *http.Request) {
		tok := rand.Text()
		tokens[tok] = r.Host
		reply(w, http.StatusOK, map[string]string{"token": tok})
	})
	mux.HandleFunc("POST /notes/", func(w http.ResponseWriter, r *http.Request) {
		var n note
		_ = json.NewDecoder(r.Body).Decode(&n)
		n.ID, n.host = len(notes)+1, r.Host
		notes[n.ID] = n
		reply(w, http.StatusCreated, n)
	})
	mux.HandleFunc("GET /notes/", func(w http.ResponseWriter, r *http.Request) {
		list := []note{}
		for _, n := range notes {
			if n.host == r.Host || leakyList {
				list = append(list, n)
			}
		}
		reply(w, http.StatusOK, map[string]any{"results": list})
	})
	mux.HandleFunc("GET /notes/{id}/", func(w http.ResponseWriter, r *http.Request) {
		if n, ok := mine(r); ok {
			reply(w, http.StatusOK, n)
			return
		}
		reply(w, http.StatusNotFound, map[string]string{"error": "not found"})
	})
	mux.HandleFunc("DELETE /notes/{id}/", func(w http.ResponseWriter, r *http.Request) {
		if n, ok := mine(r); ok {
			delete(notes, n.ID)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		reply(w, http.StatusNotFound, map[string]string{"error": "not found"})
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if signIn && r.URL.Path != "/login/" && tokens[token] != r.Host {
			reply(w, http.StatusUnauthorized, map[string]string{"error": "sign in"})
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// notesSuite describes the notes service to the kit: two tenants by host,
// and one JSON collection.
func notesSuite(h http.Handler) tenanttest.HTTPSuite {
	return tenanttest.HTTPSuite{
		Handler: h,
		Tenants: func(*tenanttest.Server) ([]tenanttest.HTTPTenant, error) {
			return []tenanttest.HTTPTenant{
				{Name: "acme", Host: "acme.example.com"},
				{Name: "globex", Host: "globex.example.com"},
			}, nil
		},
		Endpoints: []tenanttest.Endpoint{{
			Name:       "notes",
			Collection: "/notes/",
			Item:       func(id string) string { return "/notes/" + id + "/" },
			Create:     func(marker string) map[string]any { return map[string]any{"text": marker} },
		}},
	}
}

// failedChecks is a tenanttest.T that counts failures by check, for the
// examples; in a test, pass the *testing.T instead.
type failedChecks map[string]int

func (f failedChecks) Helper()             {}
func (f failedChecks) Logf(string, ...any) {}
func (f failedChecks) Errorf(format string, args ...any) {
	check, _, _ := strings.Cut(fmt.Sprintf(format, args...), ": ")
	f[check]++
}

func (f failedChecks) String() string {
	var checks []string
	for c := range f {
		checks = append(checks, c)
	}
	sort.Strings(checks)
	return fmt.Sprintf("%d failed %q", len(checks), checks)
}

// CheckHTTPIsolation runs over the notes service twice: as written, and
// with its list missing the tenant filter. In a test, call
// tenanttest.RunHTTPTests(t, suite) instead: each check is then a subtest.
func ExampleCheckHTTPIsolation() {
	correct := failedChecks{}
	tenanttest.CheckHTTPIsolation(correct, notesSuite(newNotes(false, false)))
	fmt.Println("correct service:", correct)

	leaky := failedChecks{}
	tenanttest.CheckHTTPIsolation(leaky, notesSuite(newNotes(false, true)))
	fmt.Println("leaky list:", leaky)
	// Output:
	// correct service: 0 failed []
	// leaky list: 1 failed ["lists show only the tenant's own items"]
}

// A service with sign-in signs each tenant in inside Tenants. The suite
// then also proves that one tenant's token is refused on another's host.
func ExampleHTTPSuite_signIn() {
	suite := notesSuite(newNotes(true, false))
	suite.Tenants = func(srv *tenanttest.Server) ([]tenanttest.HTTPTenant, error) {
		var out []tenanttest.HTTPTenant
		for _, name := range []string{"acme", "globex"} {
			tn := tenanttest.HTTPTenant{Name: name, Host: name + ".example.com"}
			res, err := srv.Client(tn).Do("POST", "/login/", nil, "")
			if err != nil || res.Code != http.StatusOK {
				return nil, fmt.Errorf("signing %s in: %d %v", name, res.Code, err)
			}
			var login struct{ Token string }
			if err := json.Unmarshal(res.Body, &login); err != nil {
				return nil, err
			}
			tn.Bearer = login.Token
			out = append(out, tn)
		}
		return out, nil
	}
	failed := failedChecks{}
	tenanttest.CheckHTTPIsolation(failed, suite)
	fmt.Println(failed)
	// Output:
	// 0 failed []
}

// RunHTTPTests is what a service's own test calls, with the suite that
// describes it.
func ExampleRunHTTPTests() {
	// In the service's _test.go file:
	testIsolation := func(t *testing.T) {
		tenanttest.RunHTTPTests(t, notesSuite(newNotes(false, false)))
	}
	_ = testIsolation
}

// CheckConcurrent sends every tenant's requests at once and looks in each
// answer for another tenant's markers.
func ExampleCheckConcurrent() {
	failed := failedChecks{}
	rep := tenanttest.CheckConcurrent(failed, notesSuite(newNotes(false, false)),
		tenanttest.ConcurrentOptions{Goroutines: 4, Requests: 30})
	fmt.Println("requests sent:", rep.Requests > 0)
	fmt.Println("leaks:", rep.Leaks, "errors:", rep.Errors)
	fmt.Println(failed)
	// Output:
	// requests sent: true
	// leaks: 0 errors: 0
	// 0 failed []
}

// RunStoreTests is what a tenant.Store implementation's test calls, with a
// constructor of empty stores (each on a throwaway database, say).
func ExampleRunStoreTests() {
	// In the store's _test.go file:
	testStore := func(t *testing.T) {
		tenanttest.RunStoreTests(t, func(t *testing.T) tenant.Store {
			return tenant.NewMemStore() // your store; t.Cleanup its teardown
		})
	}
	_ = testStore
}

// NewTenant and RandomSlug make valid tenants with random identities, so
// that tests can share a real database without colliding.
func ExampleNewTenant() {
	tn := tenanttest.NewTenant(tenanttest.RandomSlug("acme"))
	fmt.Println("slug:", strings.HasPrefix(tn.Slug, "acme-"), len(tn.Slug))
	fmt.Println("name:", tn.Name == "Tenant "+tn.Slug)
	fmt.Println("status:", tn.Status)
	fmt.Println("valid:", tenant.NewMemStore().Create(context.Background(), tn))
	// Output:
	// slug: true 13
	// name: true
	// status: active
	// valid: <nil>
}

// AuditRecorder keeps what a package reports, here the resolver's report
// of a request for a host that is no tenant's.
func ExampleAuditRecorder() {
	store := tenant.NewMemStore()
	_ = store.Create(context.Background(), tenanttest.NewTenant("acme"))
	audit := &tenanttest.AuditRecorder{}
	r, err := resolve.New(store, resolve.WithBaseDomain("example.com"), resolve.WithAuditor(audit))
	if err != nil {
		fmt.Println(err)
		return
	}
	h := r.Middleware(http.NotFoundHandler())

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "http://nobody.example.com/", nil))
	fmt.Println(rec.Code, audit.Kinds())
	// Output:
	// 404 [unknown_host]
}
