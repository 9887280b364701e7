package telemetry

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/tenantwall/tenantwall/tenant"
)

// Attributes returns the span attributes of a tenant: tenant.id and
// tenant.slug, the names tenant.Attr gives in slog (group "tenant", keys
// "id" and "slug"), so that logs and traces of one request can be joined
// on them. Like tenant.Attr, it never includes the name or branding.
func Attributes(t tenant.Tenant) []attribute.KeyValue {
	return []attribute.KeyValue{TenantKey.String(t.ID), slugKey.String(t.Slug)}
}

func setSpanTenant(ctx context.Context, span trace.Span) {
	if t, ok := tenant.FromContext(ctx); ok {
		span.SetAttributes(Attributes(t)...)
	}
}
