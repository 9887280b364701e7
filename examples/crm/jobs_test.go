package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// digests returns the digest notifications a tenant's user sees.
func digests(t *testing.T, c *client) []string {
	t.Helper()
	code, body := c.json("GET", "/api/notifications/", nil)
	require.Equal(t, http.StatusOK, code, "%v", body)
	var out []string
	for _, n := range body["results"].([]any) {
		if m := n.(map[string]any)["message"].(string); strings.HasPrefix(m, "Daily digest:") {
			out = append(out, m)
		}
	}
	return out
}

// jobsOf lists a tenant's jobs through the operator API.
func jobsOf(t *testing.T, op *client, slug, query string) []map[string]any {
	t.Helper()
	code, body := op.json("GET", "/admin/api/tenants/"+slug+"/jobs/"+query, nil)
	require.Equal(t, http.StatusOK, code, "%v", body)
	var out []map[string]any
	for _, j := range body["results"].([]any) {
		out = append(out, j.(map[string]any))
	}
	return out
}

func TestJobs(t *testing.T) {
	modes(t, func(t *testing.T, s *server) {
		acme := s.client(t, "acme.localhost").login("admin@acme.test")
		globex := s.client(t, "globex.localhost").login("admin@globex.test")
		for i := range 3 {
			code, b := acme.json("POST", "/api/tasks/", map[string]any{"title": fmt.Sprintf("acme only %d", i)})
			require.Equal(t, http.StatusCreated, code, "%v", b)
		}
		want := map[*client]string{}
		for _, c := range []*client{acme, globex} {
			code, o := c.json("GET", "/api/dashboard/overview/", nil)
			require.Equal(t, http.StatusOK, code)
			want[c] = fmt.Sprintf("Daily digest: %v open tasks, %v leads, %v unread notifications", o["open_tasks"], o["leads"], o["unread_notifications"])
		}
		require.NotEqual(t, want[acme], want[globex], "the tenants' data must differ for the test to tell them apart")

		require.NoError(t, s.app.startJobs(context.Background()))

		t.Run("the daily digest fans out to each tenant, with its own data only", func(t *testing.T) {
			for _, c := range []*client{acme, globex} {
				require.Eventually(t, func() bool { return len(digests(t, c)) > 0 }, 30*time.Second, 50*time.Millisecond, c.host)
				assert.Equal(t, []string{want[c]}, digests(t, c), c.host)
			}
		})

		op := s.client(t, "platform.localhost")
		op.token = "op-secret"
		t.Run("the operator API lists each tenant's jobs only", func(t *testing.T) {
			ids := map[string]map[any]bool{}
			for _, slug := range []string{"acme", "globex"} {
				ids[slug] = map[any]bool{}
				kinds := map[any]bool{}
				for _, j := range jobsOf(t, op, slug, "") {
					ids[slug][j["id"]] = true
					kinds[j["kind"]] = true
				}
				assert.True(t, kinds["crm_daily_digest"], "%s: %v", slug, kinds)
				assert.True(t, kinds["crm_dashboard_precompute"], "%s: %v", slug, kinds)
				assert.False(t, kinds["crm_daily_digest_tick"], "the platform job is no tenant's")
			}
			for id := range ids["acme"] {
				assert.False(t, ids["globex"][id], "job %v listed for both tenants", id)
			}
			for _, j := range jobsOf(t, op, "acme", "?state=completed") {
				assert.Equal(t, "completed", j["state"])
			}
		})

		t.Run("the dashboard precomputation completes after a change", func(t *testing.T) {
			require.Eventually(t, func() bool {
				for _, j := range jobsOf(t, op, "globex", "?state=completed") {
					if j["kind"] == "crm_dashboard_precompute" {
						return true
					}
				}
				return false
			}, 30*time.Second, 50*time.Millisecond)
		})

		t.Run("a suspended tenant's digest waits", func(t *testing.T) {
			code, _ := op.json("POST", "/admin/api/tenants/globex/suspend/", nil)
			require.Equal(t, http.StatusOK, code)
			code, queued := op.json("POST", "/admin/api/tenants/globex/jobs/digest/", nil)
			require.Equal(t, http.StatusAccepted, code, "%v", queued)
			var snoozed map[string]any
			require.Eventually(t, func() bool {
				for _, j := range jobsOf(t, op, "globex", "") {
					if j["id"] == queued["id"] && j["state"] == "scheduled" {
						snoozed = j
						return true
					}
				}
				return false
			}, 30*time.Second, 50*time.Millisecond, "snoozed")
			// Checked here: a require inside the condition would run on
			// its goroutine and wait out the timeout.
			at, err := time.Parse(time.RFC3339Nano, snoozed["scheduled_at"].(string))
			require.NoError(t, err)
			assert.Greater(t, time.Until(at), 10*time.Minute, "snoozed for the envelope's default")
			code, _ = op.json("POST", "/admin/api/tenants/globex/activate/", nil)
			require.Equal(t, http.StatusOK, code)
			assert.Len(t, digests(t, globex), 1, "the suspended tenant's digest ran")
		})

		t.Run("the operator API refuses what it does not understand", func(t *testing.T) {
			code, _ := op.json("GET", "/admin/api/tenants/acme/jobs/?state=nope", nil)
			assert.Equal(t, http.StatusBadRequest, code)
			code, _ = op.json("GET", "/admin/api/tenants/nobody/jobs/", nil)
			assert.Equal(t, http.StatusNotFound, code)
			code, _ = op.json("POST", "/admin/api/tenants/nobody/jobs/digest/", nil)
			assert.Equal(t, http.StatusNotFound, code)
			anon := s.client(t, "platform.localhost")
			code, _ = anon.json("GET", "/admin/api/tenants/acme/jobs/", nil)
			assert.Equal(t, http.StatusUnauthorized, code)
		})
	})
}
