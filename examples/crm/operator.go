package main

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/tenantwall/tenantwall/credentials"
	"github.com/tenantwall/tenantwall/resolve"
	"github.com/tenantwall/tenantwall/tenant"
)

// operatorRoutes is the operator API, served only on the platform host and
// only with the operator token.
func (a *app) operatorRoutes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /admin/api/tenants/", func(w http.ResponseWriter, r *http.Request) {
		ts, err := a.tenants.List(r.Context())
		if ts == nil {
			ts = []tenant.Tenant{}
		}
		a.respond(w, r, http.StatusOK, map[string]any{"results": ts}, err)
	})
	mux.HandleFunc("POST /admin/api/tenants/", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Slug, Name, LogoURL, PrimaryColor string
		}
		if err := decodeStrict(w, r, &body); err != nil {
			a.respond(w, r, 0, nil, err)
			return
		}
		t, err := a.createTenant(r.Context(), body.Slug, body.Name, tenant.Branding{LogoURL: body.LogoURL, PrimaryColor: body.PrimaryColor})
		a.respond(w, r, http.StatusCreated, t, err)
	})
	mux.HandleFunc("POST /admin/api/tenants/{slug}/suspend/", func(w http.ResponseWriter, r *http.Request) {
		t, err := a.setStatus(r.Context(), r.PathValue("slug"), tenant.StatusSuspended)
		a.respond(w, r, http.StatusOK, t, err)
	})
	mux.HandleFunc("POST /admin/api/tenants/{slug}/activate/", func(w http.ResponseWriter, r *http.Request) {
		t, err := a.setStatus(r.Context(), r.PathValue("slug"), tenant.StatusActive)
		a.respond(w, r, http.StatusOK, t, err)
	})
	mux.HandleFunc("GET /admin/api/tenants/{slug}/domains/", func(w http.ResponseWriter, r *http.Request) {
		t, err := a.tenants.BySlug(r.Context(), r.PathValue("slug"))
		if err != nil {
			a.respond(w, r, 0, nil, notFoundIf(err))
			return
		}
		ds, err := a.tenants.Domains(r.Context(), t.ID)
		if ds == nil {
			ds = []tenant.Domain{}
		}
		a.respond(w, r, http.StatusOK, map[string]any{"results": ds}, err)
	})
	mux.HandleFunc("POST /admin/api/tenants/{slug}/domains/", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Host   string
			Status string
		}
		if err := decodeStrict(w, r, &body); err != nil {
			a.respond(w, r, 0, nil, err)
			return
		}
		st := tenant.DomainStatus(body.Status)
		if st == tenant.DomainVerified || st == tenant.DomainActive {
			// Only proven DNS makes a domain serve (and get a
			// certificate): 'crm domain verify'. A re-added domain is
			// pending again.
			a.respond(w, r, 0, nil, badRequest{`field "status": a domain is verified only by its DNS (crm domain verify)`})
			return
		}
		d, err := a.putDomain(r.Context(), r.PathValue("slug"), body.Host, st)
		a.respond(w, r, http.StatusCreated, d, err)
	})
	// Write-only: integration keys are set here and used by the server,
	// never read back through the API.
	mux.HandleFunc("PUT /admin/api/tenants/{slug}/credentials/{provider}/", func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Key string }
		if err := decodeStrict(w, r, &body); err != nil {
			a.respond(w, r, 0, nil, err)
			return
		}
		if r.PathValue("provider") == signingProvider {
			a.respond(w, r, 0, nil, badRequest{"provider " + signingProvider + " is reserved for the server's token signing keys"})
			return
		}
		t, err := a.tenants.BySlug(r.Context(), r.PathValue("slug"))
		if err != nil {
			a.respond(w, r, 0, nil, notFoundIf(err))
			return
		}
		v, err := a.vault.Set(tenant.NewContext(r.Context(), t), r.PathValue("provider"), body.Key)
		if errors.Is(err, credentials.ErrProvider) || errors.Is(err, credentials.ErrConfig) {
			err = badRequest{err.Error()}
		}
		a.respond(w, r, http.StatusOK, map[string]any{"provider": r.PathValue("provider"), "version": v}, err)
	})
	a.jobRoutes(mux)
	a.lifecycleRoutes(mux)
	a.opsRoutes(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { writeError(w, http.StatusNotFound, "not found") })
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/admin/api/") {
			writeError(w, http.StatusNotFound, "not found")
			return
		}
		if !a.operatorAuth(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="operator"`)
			writeError(w, http.StatusUnauthorized, "unauthenticated")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		mux.ServeHTTP(w, r)
	})
}

func notFoundIf(err error) error {
	if errors.Is(err, tenant.ErrNotFound) {
		return errNotFound
	}
	return err
}

// createTenant validates and stores a tenant; its slug subdomain works at
// once.
func (a *app) createTenant(ctx context.Context, slug, name string, b tenant.Branding) (tenant.Tenant, error) {
	// The creation time is set here, at the stores' microsecond
	// precision, so that the answer carries the time stored rather than
	// the zero time of a value the store filled in on its own copy.
	t := tenant.Tenant{ID: tenant.NewID(), Slug: slug, Name: name, Status: tenant.StatusActive, Branding: b,
		CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
	if err := t.Validate(); err != nil {
		return t, badRequest{err.Error()}
	}
	if err := a.tenants.Create(ctx, t); err != nil {
		if errors.Is(err, tenant.ErrExists) {
			return t, badRequest{"slug " + slug + " is taken"}
		}
		return t, err
	}
	if a.resolver != nil {
		a.spread(a.resolver.InvalidateTenant(t.ID))
	}
	return t, nil
}

func (a *app) setStatus(ctx context.Context, slug string, st tenant.Status) (tenant.Tenant, error) {
	t, err := a.tenants.BySlug(ctx, slug)
	if err != nil {
		return t, notFoundIf(err)
	}
	t.Status = st
	if st == tenant.StatusActive && a.data != nil {
		if err := a.cancelDeletion(ctx, t); err != nil {
			return t, err
		}
	}
	if err := a.tenants.Update(ctx, t); err != nil {
		return t, err
	}
	if a.resolver != nil {
		a.spread(a.resolver.InvalidateTenant(t.ID))
	}
	return t, nil
}

// errPlatformHost is customHost's refusal.
var errPlatformHost = errors.New("the platform's own domain cannot be a custom domain")

// customHost is the server's rule for a tenant's custom domain h (in
// canonical form, resolve.Normalize's): not the platform's host, nor the
// base domain or a name under it. putDomain (the API and "domain add")
// and the lifecycle Managers' domain policy (imports) both apply it.
func (a *app) customHost(h string) error {
	if h == a.cfg.baseDomain || strings.HasSuffix(h, "."+a.cfg.baseDomain) || h == a.cfg.platformHost {
		return errPlatformHost
	}
	return nil
}

func (a *app) putDomain(ctx context.Context, slug, host string, st tenant.DomainStatus) (tenant.Domain, error) {
	t, err := a.tenants.BySlug(ctx, slug)
	if err != nil {
		return tenant.Domain{}, notFoundIf(err)
	}
	h, err := resolve.Normalize(host)
	if err != nil {
		return tenant.Domain{}, badRequest{`field "host": ` + err.Error()}
	}
	if err := a.customHost(h); err != nil {
		return tenant.Domain{}, badRequest{`field "host": ` + err.Error()}
	}
	if st == "" {
		st = tenant.DomainPending
	}
	d := tenant.Domain{Host: h, TenantID: t.ID, Status: st}
	if err := a.tenants.PutDomain(ctx, d); err != nil {
		if errors.Is(err, tenant.ErrDomainTaken) {
			return d, badRequest{`field "host": the domain belongs to another tenant`}
		}
		if errors.Is(err, tenant.ErrInvalidDomain) {
			return d, badRequest{`field "status": unknown status`}
		}
		return d, err
	}
	if a.resolver != nil {
		a.spread(a.resolver.InvalidateHost(h))
	}
	return d, nil
}
