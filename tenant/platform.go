package tenant

import "context"

type platformKey struct{}

// WithPlatformScope marks ctx for platform-wide work (operator reports,
// migrations, tenant deletion): the one explicit opt-out from tenant
// scoping. It is refused without a reason, and every tenantwall function
// that honours it reports an EventPlatformAccess with that reason to its
// Auditor. A context carrying a tenant keeps being scoped to that tenant.
func WithPlatformScope(ctx context.Context, reason string) (context.Context, error) {
	if reason == "" {
		return nil, ErrNoReason
	}
	return context.WithValue(ctx, platformKey{}, reason), nil
}

// PlatformScope returns the reason given to WithPlatformScope, if ctx was
// marked with it.
func PlatformScope(ctx context.Context) (reason string, ok bool) {
	reason, ok = ctx.Value(platformKey{}).(string)
	return reason, ok
}
