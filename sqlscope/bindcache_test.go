package sqlscope

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
)

// TestBindCache checks that a statement bound from the cache is bound
// exactly as a freshly lexed one, with the tenant of each call and never
// a tenant of an earlier call, that refused texts stay refused, and that
// the cache stays bounded.
func TestBindCache(t *testing.T) {
	cases := []struct {
		d    Dialect
		q    string
		args []any
	}{
		{SQLite, `SELECT id FROM leads WHERE tenant_id = {tenant} AND id = ?`, []any{int64(7)}},
		{SQLite, `SELECT '{tenant}', ? FROM t WHERE tenant_id = {tenant} AND a = ? OR tenant_id = {tenant}`, []any{1, 2}},
		{MySQL, `UPDATE t SET a = ? WHERE tenant_id = {tenant} AND b = ?`, []any{"x", "y"}},
		{Postgres, `SELECT id FROM leads WHERE tenant_id = {tenant} AND id = $1 AND s <> '{tenant}'`, []any{int64(9)}},
		{Postgres, `SELECT id FROM leads WHERE tenant_id = {tenant}`, nil},
	}
	for _, c := range cases {
		want, err := compile(c.d, c.q, len(c.args))
		if err != nil {
			t.Fatal(c.q, err)
		}
		for _, id := range []string{"tenant-a", "tenant-b", "tenant-a"} {
			q, args, err := bind(c.d, c.q, c.args, id)
			if err != nil {
				t.Fatal(c.q, err)
			}
			if q != want.text {
				t.Fatalf("%s: cached text %q, lexed %q", c.q, q, want.text)
			}
			var wantArgs []any
			for _, k := range want.order {
				if k < 0 {
					wantArgs = append(wantArgs, id)
				} else {
					wantArgs = append(wantArgs, c.args[k])
				}
			}
			if !reflect.DeepEqual(args, wantArgs) {
				t.Fatalf("%s under %s: args %v, want %v", c.q, id, args, wantArgs)
			}
		}
	}
	// The same text with another number of arguments is another template.
	if _, _, err := bind(SQLite, cases[0].q, nil, "tenant-a"); !errors.Is(err, ErrStatement) {
		t.Fatalf("1 placeholder, 0 arguments after a cached bind: %v", err)
	}
	// Refused texts are refused on every call, never cached.
	for range 2 {
		if _, _, err := bind(SQLite, `SELECT * FROM leads`, nil, "tenant-a"); !errors.Is(err, ErrUnscoped) {
			t.Fatalf("unscoped: %v", err)
		}
		if _, _, err := bind(Postgres, `SELECT 1 FROM t WHERE tenant_id = {tenant}; DROP TABLE t`, nil, "tenant-a"); !errors.Is(err, ErrStatement) {
			t.Fatalf("two statements: %v", err)
		}
	}
	// Bounded: texts that are all different never grow it past maxTemplates.
	for i := range maxTemplates + 10 {
		if _, _, err := bind(SQLite, fmt.Sprintf(`SELECT %d FROM t WHERE tenant_id = {tenant}`, i), nil, "tenant-a"); err != nil {
			t.Fatal(err)
		}
		templates.mu.RLock()
		n := len(templates.m)
		templates.mu.RUnlock()
		if n > maxTemplates {
			t.Fatalf("%d templates kept, bound is %d", n, maxTemplates)
		}
	}
}
