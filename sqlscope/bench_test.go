package sqlscope_test

import (
	"context"
	"testing"

	"github.com/tenantwall/tenantwall/sqlscope"
	"github.com/tenantwall/tenantwall/tenant"
)

// BenchmarkBind rewrites a typical CRM statement (a marker, a placeholder,
// a string literal) for each dialect: the row filter's cost per query
// before the driver sees it.
func BenchmarkBind(b *testing.B) {
	ctx := tenant.NewContext(context.Background(), tenant.Tenant{ID: "3f0c9a52-6a7e-4c4e-9a35-2d1f0e8b7c61", Slug: "acme"})
	for _, c := range []struct {
		d sqlscope.Dialect
		q string
	}{
		{sqlscope.SQLite, `SELECT id, name, phone, email, status, created_at FROM leads WHERE tenant_id = {tenant} AND status <> 'lost' AND id = ?`},
		{sqlscope.MySQL, `SELECT id, name, phone, email, status, created_at FROM leads WHERE tenant_id = {tenant} AND status <> 'lost' AND id = ?`},
		{sqlscope.Postgres, `SELECT id, name, phone, email, status, created_at FROM leads WHERE tenant_id = {tenant} AND status <> 'lost' AND id = $1`},
	} {
		f, err := sqlscope.NewFilter(nil, c.d)
		if err != nil {
			b.Fatal(err)
		}
		args := []any{42}
		b.Run("dialect="+c.d.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := f.Bind(ctx, c.q, args); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
