package tenant

import (
	"context"
	"fmt"
)

type platformKey struct{}

// WithPlatformScope marks ctx for platform-wide work (operator reports,
// migrations, tenant deletion): the one explicit opt-out from tenant
// scoping. It is refused without a reason. Code that acts on it checks it
// with RequirePlatformScope, which reports every use, with the reason, to
// an Auditor. A context carrying a tenant keeps being scoped to that tenant.
func WithPlatformScope(ctx context.Context, reason string) (context.Context, error) {
	if reason == "" {
		return nil, ErrNoReason
	}
	return context.WithValue(ctx, platformKey{}, reason), nil
}

// WithoutPlatformScope returns ctx without WithPlatformScope's mark, for
// work done for one tenant inside a context that platform work made: a
// tenant's job on a worker whose client was started under the mark, or
// one tenant's step of a fan-out. RequirePlatformScope refuses the
// result, whatever ctx's parents carry. An unmarked ctx is returned as it
// is, without allocating; a marked one costs one context value.
func WithoutPlatformScope(ctx context.Context) context.Context {
	if _, ok := platformScope(ctx); !ok {
		return ctx
	}
	return context.WithValue(ctx, platformKey{}, nil)
}

// platformScope returns the reason given to WithPlatformScope, if ctx was
// marked with it. It only reads the mark: code that acts on the opt-out
// uses RequirePlatformScope, so that the use is audited.
func platformScope(ctx context.Context) (reason string, ok bool) {
	reason, ok = ctx.Value(platformKey{}).(string)
	return reason, ok
}

// RequirePlatformScope is the check every platform-wide operation makes
// before it acts outside one tenant. When ctx was not marked with
// WithPlatformScope it reports nothing and returns an error wrapping
// ErrNoTenant that names e.Package and e.Resource, so the operation fails
// closed exactly as a tenant-scoped one does without a tenant. Otherwise it
// reports e to a (DefaultAuditor when nil) as an EventPlatformAccess whose
// Resource ends with the reason, and returns the reason.
//
// e names the operation: Package is the reporting package or component,
// Resource what is reached for ("purge", "migrate 12 objects"), OwnerID the
// tenant acted on, if one. Its Kind is ignored.
func RequirePlatformScope(ctx context.Context, a Auditor, e Event) (reason string, err error) {
	reason, ok := platformScope(ctx)
	if !ok {
		return "", fmt.Errorf("%s: %s without tenant.WithPlatformScope: %w", e.Package, e.Resource, ErrNoTenant)
	}
	e.Kind = EventPlatformAccess
	e.Resource += ": " + reason
	OrDefault(a).Audit(ctx, e)
	return reason, nil
}
