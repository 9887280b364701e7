package main

import (
	"fmt"
	"testing"

	"github.com/tenantwall/tenantwall/sqlscope"
)

// TestQueryTexts checks that the kept texts are the ones built each time
// before: data.q's rebinding on every dialect, the resources' SELECT
// lists, and that the kept rebound texts stay bounded.
func TestQueryTexts(t *testing.T) {
	for _, d := range []sqlscope.Dialect{sqlscope.SQLite, sqlscope.Postgres} {
		for _, q := range []string{`SELECT a FROM t WHERE tenant_id = {tenant} AND id = ? AND b = ?`, `SELECT 1`} {
			for range 2 {
				if got, want := rebind(d, q), sqlscope.Rebind(d, q); got != want {
					t.Fatalf("%s %q: %q, want %q", d, q, got, want)
				}
			}
		}
	}
	if got := resources["leads"].selectSQL(); got != `SELECT id, name, phone, email, status, created_at FROM leads` {
		t.Fatalf("leads: %q", got)
	}
	for name, rs := range resources {
		for range 2 {
			if got := rs.selectSQL(); got != rs.selectSQL() || got == "" {
				t.Fatalf("%s: %q", name, got)
			}
		}
		if _, ok := queryTexts.selects.Load(rs); !ok {
			t.Fatalf("%s: SELECT list not kept", name)
		}
	}
	for i := range maxQueryTexts + 10 {
		q := fmt.Sprintf(`SELECT %d FROM t WHERE id = ?`, i)
		if got := rebind(sqlscope.Postgres, q); got != fmt.Sprintf(`SELECT %d FROM t WHERE id = $1`, i) {
			t.Fatal(got)
		}
		queryTexts.mu.RLock()
		n := len(queryTexts.rebound)
		queryTexts.mu.RUnlock()
		if n > maxQueryTexts {
			t.Fatalf("%d rebound texts kept, bound is %d", n, maxQueryTexts)
		}
	}
}
