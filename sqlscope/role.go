package sqlscope

import (
	"context"
	"fmt"

	"github.com/tenantwall/tenantwall/sqlscope/internal/privilege"
	"github.com/tenantwall/tenantwall/tenant"
)

// privileges runs the one query that finds what lets role (empty: every
// role the connection acts as) escape row level security.
func privileges(ctx context.Context, q Querier, role string, schemas []string) ([]privilege.Problem, error) {
	rows, err := q.QueryContext(ctx, privilege.SQL, schemaArray(schemas), role)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return privilege.Read(rows)
}

// WithPrivilegedRole lets NewRLS accept a handle whose role escapes row
// level security (superuser, BYPASSRLS, CREATEROLE, owner of a tenant
// table, a member of such a role, or a role that reaches the server's
// files or programs), for tools that must run as one. NewRLS then
// does not check the role, and reports reason to the auditor (an
// EventPlatformAccess) when it is called. The reason is required. An
// application serving tenants must never use it: every tenant's rows
// are visible through such a handle.
func WithPrivilegedRole(reason string) Option {
	return func(o *options) error {
		if reason == "" {
			return fmt.Errorf("sqlscope: WithPrivilegedRole: %w", tenant.ErrNoReason)
		}
		o.privileged = reason
		return nil
	}
}

// checkRole refuses a db whose connection acts as a role that escapes
// row level security, with ErrPrivilegedRole naming each problem and its
// fix.
func checkRole(ctx context.Context, db Querier) error {
	problems, err := privileges(ctx, db, "", nil)
	if err != nil {
		return fmt.Errorf("sqlscope: NewRLS: check the application role: %w", err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrPrivilegedRole, privilege.Explain(problems, "sqlscope.WithPrivilegedRole(reason) to NewRLS"))
	}
	return nil
}
