package tenant

import (
	"context"
	"log/slog"
)

// Attr returns the slog attribute tenantwall logs a tenant with: a group
// "tenant" holding "id" and "slug" (tenant.id and tenant.slug in text).
func Attr(t Tenant) slog.Attr { return slog.Any("tenant", t) }

// LogHandler wraps a slog.Handler and adds the context tenant's id and slug
// (as Attr) to every record logged with a context that carries a tenant.
// Log with the *Context methods (InfoContext, …) for it to see the tenant.
// It is safe for concurrent use when the wrapped handler is.
type LogHandler struct {
	inner slog.Handler
}

// NewLogHandler returns a LogHandler around h.
func NewLogHandler(h slog.Handler) *LogHandler { return &LogHandler{inner: h} }

// Enabled implements slog.Handler.
func (h *LogHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

// Handle implements slog.Handler.
func (h *LogHandler) Handle(ctx context.Context, r slog.Record) error {
	if ctx != nil {
		if p, ok := ctx.Value(ctxKey{}).(*Tenant); ok {
			r = r.Clone()
			r.AddAttrs(Attr(*p))
		}
	}
	return h.inner.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (h *LogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &LogHandler{inner: h.inner.WithAttrs(attrs)}
}

// WithGroup implements slog.Handler.
func (h *LogHandler) WithGroup(name string) slog.Handler {
	return &LogHandler{inner: h.inner.WithGroup(name)}
}
