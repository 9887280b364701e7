package tenanttest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/tenantwall/tenantwall/resolve"
	"github.com/tenantwall/tenantwall/tenant"
	"github.com/tenantwall/tenantwall/tenant/tenanttest"
)

// bugs switches deliberate isolation bugs on in the toy service.
type bugs struct {
	unfilteredList  bool // list every tenant's notes
	sharedCache     bool // cache key without the tenant
	staleCache      bool // writes do not invalidate the writer's cached stats
	domainCookie    bool // session cookie with Domain=.example.com
	forbiddenNot404 bool // another tenant's note answers 403
	tenantFromBody  bool // create honours a tenant_id field
	unboundToken    bool // any tenant's token is accepted on every host
	openDownload    bool // downloads skip the tenant check
	probeable404    bool // another tenant's note answers 404 with its own body
	// hostOnly is no bug: the service takes the tenant from the host
	// alone and has no sign-in, so the suite's clients carry no
	// credentials.
	hostOnly bool
}

// toy is a minimal user service: notes per tenant, behind resolve, with
// bearer tokens and a login that sets a cookie.
type toy struct {
	bugs
	mu     sync.Mutex
	next   int
	notes  map[int]note
	tokens map[string]string // token → tenant ID
	cache  map[string]string
	store  *tenant.MemStore
	ts     []tenant.Tenant
}

type note struct {
	ID     int    `json:"id"`
	Text   string `json:"text"`
	tenant string
}

// newToy starts the toy with the given bugs and tenants (default acme and
// globex).
func newToy(b bugs, slugs ...string) (*toy, http.Handler) {
	if len(slugs) == 0 {
		slugs = []string{"acme", "globex"}
	}
	s := &toy{bugs: b, notes: map[int]note{}, tokens: map[string]string{}, cache: map[string]string{}, store: tenant.NewMemStore()}
	for _, slug := range slugs {
		tn := tenanttest.NewTenant(slug)
		_ = s.store.Create(context.Background(), tn)
		s.ts = append(s.ts, tn)
		s.tokens["token-"+slug] = tn.ID
	}
	r, _ := resolve.New(s.store, resolve.WithBaseDomain("example.com"), resolve.WithAuditor(tenant.AuditorFunc(func(_ context.Context, _ tenant.Event) {})))
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", s.login)
	mux.HandleFunc("GET /notes/", s.auth(s.list))
	mux.HandleFunc("POST /notes/", s.auth(s.create))
	mux.HandleFunc("GET /notes/{id}/", s.auth(s.get))
	mux.HandleFunc("PATCH /notes/{id}/", s.auth(s.patch))
	mux.HandleFunc("DELETE /notes/{id}/", s.auth(s.del))
	mux.HandleFunc("GET /notes/{id}/download/", s.auth(s.download))
	mux.HandleFunc("GET /stats/", s.auth(s.stats))
	return s, r.Middleware(mux)
}

func (s *toy) login(w http.ResponseWriter, r *http.Request) {
	c := &http.Cookie{Name: "sid", Value: "x", HttpOnly: true, Secure: true, Path: "/"}
	if s.domainCookie {
		c.Domain = "example.com"
	}
	http.SetCookie(w, c)
}

func (s *toy) auth(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		owner, known := s.tokens[tok]
		bound := owner == tenant.MustFromContext(r.Context()).ID || (s.unboundToken && known)
		if !s.hostOnly && !bound {
			http.Error(w, `{"error":"unauthenticated"}`, http.StatusUnauthorized)
			return
		}
		next(w, r)
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *toy) list(w http.ResponseWriter, r *http.Request) {
	me := tenant.MustFromContext(r.Context()).ID
	s.mu.Lock()
	out := []note{}
	for i := 1; i <= s.next; i++ {
		if n, ok := s.notes[i]; ok && (n.tenant == me || s.unfilteredList) {
			out = append(out, n)
		}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"results": out})
}

func (s *toy) create(w http.ResponseWriter, r *http.Request) {
	var body map[string]string
	_ = json.NewDecoder(r.Body).Decode(&body)
	owner := tenant.MustFromContext(r.Context()).ID
	if s.tenantFromBody && body["tenant_id"] != "" {
		owner = body["tenant_id"]
	}
	s.mu.Lock()
	s.next++
	n := note{ID: s.next, Text: body["text"], tenant: owner}
	s.notes[n.ID] = n
	if !s.staleCache {
		delete(s.cache, "stats:"+owner) // invalidate the writer's cached stats
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, n)
}

func (s *toy) find(w http.ResponseWriter, r *http.Request) (note, bool) {
	id, _ := strconv.Atoi(r.PathValue("id"))
	s.mu.Lock()
	n, ok := s.notes[id]
	s.mu.Unlock()
	open := s.openDownload && strings.HasSuffix(r.URL.Path, "/download/")
	if ok && !open && n.tenant != tenant.MustFromContext(r.Context()).ID {
		switch {
		case s.forbiddenNot404:
			http.Error(w, `{"error":"forbidden"}`, http.StatusForbidden)
			return note{}, false
		case s.probeable404:
			http.Error(w, `{"error":"not yours"}`, http.StatusNotFound)
			return note{}, false
		}
		ok = false
	}
	if !ok {
		http.Error(w, `{"error":"not found"}`, http.StatusNotFound)
	}
	return n, ok
}

func (s *toy) get(w http.ResponseWriter, r *http.Request) {
	if n, ok := s.find(w, r); ok {
		writeJSON(w, http.StatusOK, n)
	}
}

func (s *toy) patch(w http.ResponseWriter, r *http.Request) {
	n, ok := s.find(w, r)
	if !ok {
		return
	}
	var body map[string]string
	_ = json.NewDecoder(r.Body).Decode(&body)
	if t, ok := body["text"]; ok {
		n.Text = t
	}
	s.mu.Lock()
	s.notes[n.ID] = n
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, n)
}

func (s *toy) del(w http.ResponseWriter, r *http.Request) {
	if n, ok := s.find(w, r); ok {
		s.mu.Lock()
		delete(s.notes, n.ID)
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}
}

func (s *toy) download(w http.ResponseWriter, r *http.Request) {
	if n, ok := s.find(w, r); ok {
		w.Header().Set("Content-Disposition", "attachment")
		io.WriteString(w, n.Text)
	}
}

func (s *toy) stats(w http.ResponseWriter, r *http.Request) {
	me := tenant.MustFromContext(r.Context()).ID
	key := "stats"
	if !s.sharedCache {
		key += ":" + me
	}
	s.mu.Lock()
	v, ok := s.cache[key]
	if !ok {
		n := 0
		for _, x := range s.notes {
			if x.tenant == me {
				n++
			}
		}
		v = fmt.Sprintf(`{"notes":%d}`, n)
		s.cache[key] = v
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, v)
}

// suite describes the toy service for the conformance kit.
func (s *toy) suite(h http.Handler) tenanttest.HTTPSuite {
	return tenanttest.HTTPSuite{
		Handler:              h,
		AllowInsecureCookies: false,
		Tenants: func(srv *tenanttest.Server) ([]tenanttest.HTTPTenant, error) {
			var out []tenanttest.HTTPTenant
			for _, tn := range s.ts {
				t := tenanttest.HTTPTenant{Name: tn.Slug, Host: tn.Slug + ".example.com", Secrets: []string{tn.ID}}
				if s.hostOnly {
					out = append(out, t)
					continue
				}
				t.Bearer = "token-" + tn.Slug
				res, err := srv.Client(t).Do("POST", "/login", nil, "")
				if err != nil {
					return nil, err
				}
				t.Cookies = res.Cookies
				out = append(out, t)
			}
			return out, nil
		},
		Endpoints: []tenanttest.Endpoint{{
			Name:        "notes",
			Collection:  "/notes/",
			Item:        func(id string) string { return "/notes/" + id + "/" },
			Create:      func(m string) map[string]any { return map[string]any{"text": m} },
			Update:      map[string]any{"text": "changed by another tenant"},
			TenantField: "tenant_id",
		}},
		Files: []tenanttest.FileEndpoint{{
			Name: "note downloads",
			Upload: func(c *tenanttest.Client, marker string) (string, error) {
				res, err := c.Do("POST", "/notes/", map[string]any{"text": marker}, "")
				if err != nil {
					return "", err
				}
				var n note
				err = json.Unmarshal(res.Body, &n)
				return strconv.Itoa(n.ID), err
			},
			Download: func(id string) string { return "/notes/" + id + "/download/" },
		}},
		Cached: []tenanttest.CachedEndpoint{{Name: "stats", Path: "/stats/"}},
	}
}
