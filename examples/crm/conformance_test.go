package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/cachekey"
	"github.com/tenantwall/tenantwall/tenant"
	"github.com/tenantwall/tenantwall/tenant/tenanttest"
)

// crmSuite describes the CRM to the conformance kit. Tenants sign in with
// a session cookie (acme) and a bearer token (globex), so both kinds of
// credentials are exercised.
func crmSuite(s *server) tenanttest.HTTPSuite {
	item := func(coll string) func(string) string {
		return func(id string) string { return coll + id + "/" }
	}
	return tenanttest.HTTPSuite{
		Handler:              s.Config.Handler,
		AllowInsecureCookies: true, // plain HTTP test server
		Tenants: func(srv *tenanttest.Server) ([]tenanttest.HTTPTenant, error) {
			var out []tenanttest.HTTPTenant
			for _, d := range demoTenants {
				tn := tenanttest.HTTPTenant{Name: d.t.Slug, Host: d.t.Slug + ".localhost", Secrets: []string{d.t.ID}}
				creds := map[string]string{"email": "admin@" + d.t.Slug + ".test", "password": demoPassword}
				if d.t.Slug == "acme" {
					res, err := srv.Client(tn).Do("POST", "/api/auth/login/", creds, "")
					if err != nil || res.Code != http.StatusOK {
						return nil, fmt.Errorf("login %s: %d %v", d.t.Slug, res.Code, err)
					}
					if err := tenanttest.CheckCookies(res.Header.Values("Set-Cookie"), true); err != nil {
						return nil, err
					}
					tn.Cookies = res.Cookies
				} else {
					res, err := srv.Client(tn).Do("POST", "/api/auth/token/", creds, "")
					if err != nil || res.Code != http.StatusOK {
						return nil, fmt.Errorf("token %s: %d %v", d.t.Slug, res.Code, err)
					}
					var pair map[string]string
					_ = json.Unmarshal(res.Body, &pair)
					tn.Bearer = pair["access"]
				}
				out = append(out, tn)
			}
			return out, nil
		},
		Endpoints: []tenanttest.Endpoint{
			{Name: "leads", Collection: "/api/leads/", Item: item("/api/leads/"), TenantField: "tenant_id",
				Create: func(m string) map[string]any { return map[string]any{"name": m} },
				Update: map[string]any{"status": "lost"},
				Put:    func(m string) map[string]any { return map[string]any{"name": m, "status": "won"} }},
			{Name: "tasks", Collection: "/api/tasks/", Item: item("/api/tasks/"), TenantField: "tenant_id",
				Create: func(m string) map[string]any { return map[string]any{"title": m, "due": "2030-01-02"} },
				Update: map[string]any{"done": true}},
			{Name: "notifications", Collection: "/api/notifications/", Item: item("/api/notifications/"), TenantField: "tenant_id",
				Create: func(m string) map[string]any { return map[string]any{"message": m} },
				Update: map[string]any{"read": true}},
		},
		Files: []tenanttest.FileEndpoint{{
			Name: "documents",
			Upload: func(c *tenanttest.Client, marker string) (string, error) {
				var buf bytes.Buffer
				mw := multipart.NewWriter(&buf)
				w, _ := mw.CreateFormFile("file", "notes.txt")
				w.Write([]byte(marker))
				mw.Close()
				res, err := c.Do("POST", "/api/documents/", buf.Bytes(), mw.FormDataContentType())
				if err != nil {
					return "", err
				}
				if res.Code != http.StatusCreated {
					return "", fmt.Errorf("upload: %d %s", res.Code, res.Body)
				}
				var d map[string]any
				err = json.Unmarshal(res.Body, &d)
				return fmt.Sprint(d["id"]), err
			},
			Download: func(id string) string { return "/api/documents/" + id + "/download/" },
		}},
		Cached: []tenanttest.CachedEndpoint{{Name: "dashboard", Path: "/api/dashboard/overview/?filter=all"}},
	}
}

func TestConformance(t *testing.T) {
	modes(t, func(t *testing.T, s *server) {
		tenanttest.RunHTTPTests(t, crmSuite(s))
	})
}

func TestConformanceConcurrent(t *testing.T) {
	modes(t, func(t *testing.T, s *server) {
		rep := tenanttest.CheckConcurrent(t, crmSuite(s), tenanttest.ConcurrentOptions{Goroutines: 4, Requests: 30})
		assert.Zero(t, rep.Leaks)
		assert.Positive(t, rep.Requests)
	})
}

// failures is a tenanttest.T that keeps the suite's failures.
type failures struct {
	mu   sync.Mutex
	msgs []string
}

func (f *failures) Helper()             {}
func (f *failures) Logf(string, ...any) {}
func (f *failures) Errorf(format string, args ...any) {
	f.mu.Lock()
	f.msgs = append(f.msgs, fmt.Sprintf(format, args...))
	f.mu.Unlock()
}

func (f *failures) mention(s string) bool {
	for _, m := range f.msgs {
		if strings.Contains(m, s) {
			return true
		}
	}
	return false
}

// sharedCache is the source plan's bug: a cache key without the tenant,
// here on a tenant-wide dashboard (no user in the key either, or the
// globally unique user ids would keep the keys apart by luck).
type sharedCache struct{ c *cachekey.Cache[overview] }

func (c sharedCache) Get(ctx context.Context, parts []string, load func(context.Context) (overview, error)) (overview, error) {
	shared := tenant.NewContext(ctx, tenant.Tenant{ID: "00000000-0000-4000-8000-000000000000"})
	withoutUser := []string{parts[0], parts[1], parts[3]}
	return c.c.Get(shared, withoutUser, func(context.Context) (overview, error) { return load(ctx) })
}

// TestConformanceCatchesBrokenCRMs breaks the reference server in the
// ways the source plan warns about and checks the suite fails each time.
func TestConformanceCatchesBrokenCRMs(t *testing.T) {
	t.Run("an endpoint without tenant filtering", func(t *testing.T) {
		s := newServer(t, "sqlite")
		inner := s.Config.Handler
		s.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet && r.URL.Path == "/api/leads/" {
				// Every tenant's leads: the forgotten WHERE clause.
				rows, err := s.app.data.admin.Query(`SELECT id, name FROM leads ORDER BY id`)
				if err != nil {
					http.Error(w, err.Error(), 500)
					return
				}
				defer rows.Close()
				var items []map[string]any
				for rows.Next() {
					var id int64
					var name string
					_ = rows.Scan(&id, &name)
					items = append(items, map[string]any{"id": id, "name": name})
				}
				writeJSON(w, http.StatusOK, map[string]any{"results": items})
				return
			}
			inner.ServeHTTP(w, r)
		})
		f := &failures{}
		tenanttest.CheckHTTPIsolation(f, crmSuite(s))
		assert.True(t, f.mention("leads: item of acme requested by globex: list of globex leaks"), "%q", f.msgs)
	})
	t.Run("a cache key without the tenant", func(t *testing.T) {
		s := newServer(t, "sqlite")
		ks, err := cachekey.NewMemory()
		require.NoError(t, err)
		c, err := cachekey.NewCache[overview](ks, time.Minute)
		require.NoError(t, err)
		s.app.dash = sharedCache{c: c}
		f := &failures{}
		tenanttest.CheckHTTPIsolation(f, crmSuite(s))
		assert.True(t, f.mention("dashboard"), "%q", f.msgs)
	})
	t.Run("a session cookie with a shared Domain", func(t *testing.T) {
		s := newServer(t, "sqlite")
		inner := s.Config.Handler
		s.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			inner.ServeHTTP(domainCookies{ResponseWriter: w, wrote: new(bool)}, r)
		})
		f := &failures{}
		tenanttest.CheckHTTPIsolation(f, crmSuite(s))
		assert.True(t, f.mention("Domain="), "%q", f.msgs)
	})
}

// domainCookies adds Domain=localhost to every cookie the server sets.
type domainCookies struct {
	http.ResponseWriter
	wrote *bool
}

func (d domainCookies) WriteHeader(code int) {
	if *d.wrote {
		return
	}
	*d.wrote = true
	h := d.Header()
	for i, v := range h.Values("Set-Cookie") {
		h["Set-Cookie"][i] = v + "; Domain=localhost"
	}
	d.ResponseWriter.WriteHeader(code)
}

func (d domainCookies) Write(b []byte) (int, error) {
	d.WriteHeader(http.StatusOK)
	return d.ResponseWriter.Write(b)
}
