package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"

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
		Tenants: func(sess *tenanttest.Session) ([]tenanttest.Tenant, error) {
			var out []tenanttest.Tenant
			for _, d := range demoTenants {
				tn := tenanttest.Tenant{Name: d.t.Slug, Host: d.t.Slug + ".localhost", Secrets: []string{d.t.ID}}
				creds := map[string]string{"email": "admin@" + d.t.Slug + ".test", "password": demoPassword}
				if d.t.Slug == "acme" {
					res, err := sess.Client(tn).Do("POST", "/api/auth/login/", creds, "")
					if err != nil || res.Code != http.StatusOK {
						return nil, fmt.Errorf("login %s: %d %v", d.t.Slug, res.Code, err)
					}
					if err := tenanttest.CheckCookies(res.Header.Values("Set-Cookie"), true); err != nil {
						return nil, err
					}
					tn.Cookies = res.Cookies
				} else {
					res, err := sess.Client(tn).Do("POST", "/api/auth/token/", creds, "")
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
