package main

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/tenantwall/tenantwall/resolve"
	"github.com/tenantwall/tenantwall/tenant"
)

// The web pages are server-rendered with html/template, which escapes
// every value for its context; their one script and one stylesheet are
// embedded and served from this origin, so the Content-Security-Policy
// allows no inline script or style at all. The tenant's colour reaches
// the page through /theme.css, never a style attribute.

//go:embed web/templates/*.html web/static/*
var webFS embed.FS

var (
	staticFS, _ = fs.Sub(webFS, "web/static")
	// assetVersion changes whenever an embedded asset does, so the assets
	// can be cached for good under a URL that carries it.
	assetVersion = func() string {
		h := sha256.New()
		_ = fs.WalkDir(staticFS, ".", func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				b, _ := fs.ReadFile(staticFS, p)
				h.Write([]byte(p))
				h.Write(b)
			}
			return nil
		})
		return hex.EncodeToString(h.Sum(nil))[:12]
	}()
	pages = parsePages("login", "dashboard", "leads", "lead", "tasks", "notifications", "documents", "applicants", "notfound", "error")
	// plainNotFound is the unknown host's page: it names no tenant and
	// links to nothing, so it tells a prober nothing.
	plainNotFound = []byte("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Not found</title></head>" +
		"<body><h1>Not found</h1></body></html>\n")
	plainSuspended = []byte("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Suspended</title></head>" +
		"<body><h1>This account is suspended</h1></body></html>\n")
)

// parsePages parses each page with the shared layout.
func parsePages(names ...string) map[string]*template.Template {
	out := make(map[string]*template.Template, len(names))
	for _, n := range names {
		out[n] = template.Must(template.ParseFS(webFS, "web/templates/layout.html", "web/templates/"+n+".html"))
	}
	return out
}

// brand is the tenant's presentation on every page.
type brand struct {
	Name string
	Logo string // an http(s) URL whose origin the CSP allows, or ""
}

// pageData is what every template gets.
type pageData struct {
	Brand    brand
	Asset    string // asset version, for cache-busting URLs
	User     *user
	Title    string
	Active   string // the nav entry to highlight
	Error    string // what is wrong with the form, for the person
	Form     map[string]string
	Items    []map[string]any
	Item     map[string]any
	Docs     []document
	People   []applicant
	Overview overview
	Statuses []string
}

// hexColour is the only shape of colour that reaches a stylesheet.
var hexColour = regexp.MustCompile(`^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$`)

// defaultColour is the brand colour of a tenant without a valid one.
const defaultColour = "#334155"

// themeColour returns the tenant's primary colour if it is a CSS hex
// colour, else the default: nothing else is ever written into CSS.
func themeColour(c string) string {
	if hexColour.MatchString(c) {
		return strings.ToLower(c)
	}
	return defaultColour
}

// logoSource returns the CSP source (scheme://host[:port]) of a logo URL
// and true, or false for anything that is not a plain absolute http(s) URL
// on a host that resolve.Normalize accepts. The source is built from the
// parsed parts, so no character of the tenant's setting reaches the CSP
// header unchecked.
func logoSource(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.User != nil || u.Opaque != "" {
		return "", false
	}
	host, err := resolve.Normalize(u.Hostname())
	if err != nil { // Normalize refuses IP literals and anything not a DNS name
		return "", false
	}
	src := u.Scheme + "://" + host
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != p {
			return "", false
		}
		src += ":" + p
	}
	return src, true
}

// pageCSP is the policy of every page: scripts, styles, fetches and the
// WebSocket from this origin only, images also from the tenant's logo
// origin, no framing, no foreign form targets, no <base>.
func pageCSP(logoSrc string) string {
	img := "'self'"
	if logoSrc != "" {
		img += " " + logoSrc
	}
	return "default-src 'none'; script-src 'self'; style-src 'self'; img-src " + img +
		"; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
}

func setPageHeaders(w http.ResponseWriter, csp string) {
	h := w.Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	// A sibling tenant's page that opens this one keeps no handle on it.
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

// render writes a page of the request's tenant, branded.
func (a *app) render(w http.ResponseWriter, r *http.Request, code int, name string, d pageData) {
	t := tenant.MustFromContext(r.Context())
	d.Brand = brand{Name: t.Name}
	src, ok := logoSource(t.Branding.LogoURL)
	if ok {
		d.Brand.Logo = t.Branding.LogoURL
	}
	d.Asset = assetVersion
	var buf bytes.Buffer
	if err := pages[name].ExecuteTemplate(&buf, "layout", d); err != nil {
		a.log.ErrorContext(r.Context(), "page failed", "page", name, "err", err)
		writeUnavailable(w)
		return
	}
	setPageHeaders(w, pageCSP(src))
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

// pageFailed answers a failed page request with the status classify
// gives the API: the form again with what is wrong (400, 413, 415), not
// found (404, the same for another tenant's row), 503 when a backing
// service is down, else an error page.
func (a *app) pageFailed(w http.ResponseWriter, r *http.Request, name string, d pageData, err error) {
	code, msg := a.classify(r, err)
	switch code {
	case http.StatusBadRequest, http.StatusUnsupportedMediaType, http.StatusRequestEntityTooLarge:
		d.Error = msg
		if code == http.StatusRequestEntityTooLarge {
			d.Error = "The form is too large."
		}
		a.render(w, r, code, name, d)
	case http.StatusNotFound:
		a.render(w, r, code, "notfound", pageData{User: d.User, Title: "Not found"})
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", retryAfter)
		a.render(w, r, code, "error", pageData{User: d.User, Title: "Service unavailable",
			Error: "The service is unavailable. Try again in a few seconds."})
	case http.StatusRequestTimeout:
		a.render(w, r, code, "error", pageData{User: d.User, Title: "Too slow", Error: "The form arrived too slowly."})
	default:
		a.render(w, r, code, "error", pageData{User: d.User, Title: "Error", Error: "Something went wrong."})
	}
}

// hostNotFound answers a host that is no tenant's: the plain page for a
// browser's page request, the API's JSON error under /api/ and /ws/. Both
// are the same for every unknown host.
func hostNotFound() http.Handler {
	return plainOrJSON(http.StatusNotFound, "not found", plainNotFound)
}

// hostSuspended answers a suspended tenant's host the same way, saying no
// more than the API's "tenant suspended": no name, no branding.
func hostSuspended() http.Handler {
	return plainOrJSON(http.StatusForbidden, "tenant suspended", plainSuspended)
}

func plainOrJSON(code int, msg string, page []byte) http.Handler {
	api := jsonError(code, msg)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/") || strings.HasPrefix(r.URL.Path, "/ws/") {
			api.ServeHTTP(w, r)
			return
		}
		setPageHeaders(w, "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
		w.WriteHeader(code)
		_, _ = w.Write(page)
	})
}

// pathNotFound answers a path no route has: JSON under /api/, else the
// tenant's not-found page.
func (a *app) pathNotFound(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/api/") || r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeError(w, http.StatusNotFound, "not found")
		return
	}
	a.render(w, r, http.StatusNotFound, "notfound", pageData{Title: "Not found"})
}
