package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"

	"github.com/tenantwall/tenantwall/resolve"
	"github.com/tenantwall/tenantwall/tenant"
)

// app holds the server's parts. Each handler stays thin over the library.
type app struct {
	log      *slog.Logger
	tenants  tenant.Store
	resolver *resolve.Resolver
}

func newApp(ctx context.Context, cfg config, log *slog.Logger) (*app, error) {
	store := tenant.NewMemStore()
	if cfg.demo {
		if err := seedDemo(ctx, store); err != nil {
			return nil, err
		}
	}
	r, err := resolve.New(store,
		resolve.WithBaseDomain(cfg.baseDomain),
		resolve.WithAuditor(tenant.LogAuditor{Logger: log}),
		resolve.WithNotFoundHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			writeError(w, http.StatusNotFound, "not found")
		})),
		resolve.WithSuspendedHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			writeError(w, http.StatusForbidden, "tenant suspended")
		})),
		resolve.WithErrorHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			writeError(w, http.StatusServiceUnavailable, "service unavailable")
		})),
	)
	if err != nil {
		return nil, err
	}
	return &app{log: log, tenants: store, resolver: r}, nil
}

func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/tenant-branding/", a.branding)
	return a.resolver.Middleware(mux)
}

// brandingResponse is the source plan's tenant-branding payload.
type brandingResponse struct {
	TenantID     string `json:"tenant_id"`
	Slug         string `json:"slug"`
	CompanyName  string `json:"company_name"`
	CustomDomain string `json:"custom_domain"`
	LogoURL      string `json:"logo_url"`
	PrimaryColor string `json:"primary_color"`
}

func (a *app) branding(w http.ResponseWriter, r *http.Request) {
	t := tenant.MustFromContext(r.Context())
	domains, err := a.tenants.Domains(r.Context(), t.ID)
	if err != nil {
		a.log.ErrorContext(r.Context(), "list domains", "err", err)
		writeError(w, http.StatusServiceUnavailable, "service unavailable")
		return
	}
	resp := brandingResponse{TenantID: t.ID, Slug: t.Slug, CompanyName: t.Name,
		LogoURL: t.Branding.LogoURL, PrimaryColor: t.Branding.PrimaryColor}
	for _, d := range domains {
		if d.Status == tenant.DomainActive {
			resp.CustomDomain = d.Host
			break
		}
	}
	writeJSON(w, http.StatusOK, resp)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}
