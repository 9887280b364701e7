package tenant

import (
	"context"
	"log/slog"
)

// EventKind classifies an audit event.
type EventKind string

// Audit event kinds reported by tenantwall packages.
const (
	// EventCrossTenant: a request of one tenant reached for a resource,
	// session, token or key of another. The caller answered 404.
	EventCrossTenant EventKind = "cross_tenant"
	// EventUnknownHost: a request's host resolved to no tenant.
	EventUnknownHost EventKind = "unknown_host"
	// EventSuspended: a request reached a suspended tenant.
	EventSuspended EventKind = "suspended"
	// EventLookupFailure: the tenant could not be decided because a store or
	// service failed; the request was refused.
	EventLookupFailure EventKind = "lookup_failure"
	// EventPlatformAccess: code used the explicit platform-wide opt-out.
	EventPlatformAccess EventKind = "platform_access"
)

// Event is one audit record.
type Event struct {
	// Kind is what happened.
	Kind EventKind
	// TenantID is the tenant the request was served as, if any.
	TenantID string
	// OwnerID is the tenant that owns the resource reached for, if known.
	OwnerID string
	// Resource names what was reached for: "lead 42", "session", "host
	// acme.example.com", a cache key.
	Resource string
	// Package is the tenantwall package (or user component) reporting.
	Package string
	// Err is the underlying error, if any.
	Err error
}

// Auditor receives audit events. Implementations must be safe for
// concurrent use and should not block: they are called on request paths.
type Auditor interface {
	Audit(ctx context.Context, e Event)
}

// AuditorFunc adapts a function to Auditor.
type AuditorFunc func(ctx context.Context, e Event)

// Audit calls f(ctx, e).
func (f AuditorFunc) Audit(ctx context.Context, e Event) { f(ctx, e) }

// LogAuditor is the default Auditor: it writes each event as a structured
// slog record — cross-tenant attempts and lookup failures at Warn, the rest
// at Info — with both tenants named. A nil Logger means slog.Default().
type LogAuditor struct {
	Logger *slog.Logger // where events go; nil means slog.Default()
}

// Audit implements Auditor.
func (a LogAuditor) Audit(ctx context.Context, e Event) {
	l := a.Logger
	if l == nil {
		l = slog.Default()
	}
	level := slog.LevelInfo
	if e.Kind == EventCrossTenant || e.Kind == EventLookupFailure {
		level = slog.LevelWarn
	}
	attrs := make([]slog.Attr, 0, 6)
	attrs = append(attrs, slog.String("audit", string(e.Kind)))
	if e.TenantID != "" {
		attrs = append(attrs, slog.String("request_tenant", e.TenantID))
	}
	if e.OwnerID != "" {
		attrs = append(attrs, slog.String("owner_tenant", e.OwnerID))
	}
	if e.Resource != "" {
		attrs = append(attrs, slog.String("resource", e.Resource))
	}
	if e.Package != "" {
		attrs = append(attrs, slog.String("package", e.Package))
	}
	if e.Err != nil {
		attrs = append(attrs, slog.String("error", e.Err.Error()))
	}
	l.LogAttrs(ctx, level, "tenantwall audit: "+string(e.Kind), attrs...)
}

// DefaultAuditor is used by tenantwall packages that were given no Auditor.
var DefaultAuditor Auditor = LogAuditor{}

// OrDefault returns a unless it is nil, else DefaultAuditor.
func OrDefault(a Auditor) Auditor {
	if a == nil {
		return DefaultAuditor
	}
	return a
}
