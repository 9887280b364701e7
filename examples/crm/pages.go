package main

import (
	"database/sql"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/tenantwall/tenantwall/session"
	"github.com/tenantwall/tenantwall/tenant"
)

// signedIn admits a request whose session is a user of its tenant, and
// sends any other to the sign-in page. Pages take the session cookie
// only: a bearer token is for the API.
func (a *app) signedIn(next func(http.ResponseWriter, *http.Request, *user)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, ok := session.FromContext(r.Context())
		if !ok {
			http.Redirect(w, r, "/login/", http.StatusSeeOther)
			return
		}
		id, err := strconv.ParseInt(s.UserID, 10, 64)
		if err != nil {
			http.Redirect(w, r, "/login/", http.StatusSeeOther)
			return
		}
		u, err := a.userByID(r.Context(), id)
		if err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				http.Redirect(w, r, "/login/", http.StatusSeeOther)
				return
			}
			a.pageFailed(w, r, "error", pageData{}, err)
			return
		}
		next(w, r, &u)
	}
}

// pageRoutes adds the web pages to the tenant side's mux, behind the same
// resolver, session middleware (cross-origin protection included) and
// scoped data access as the API.
func (a *app) pageRoutes(mux *http.ServeMux) {
	static := http.StripPrefix("/static/", http.FileServerFS(staticFS))
	mux.Handle("GET /static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") {
			a.pathNotFound(w, r) // files only, no listing
			return
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if r.URL.Query().Get("v") == assetVersion {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			w.Header().Set("Cache-Control", "no-cache")
		}
		static.ServeHTTP(w, r)
	}))
	mux.HandleFunc("GET /theme.css", a.theme)
	mux.HandleFunc("GET /login/{$}", a.loginPage)
	mux.HandleFunc("POST /login/{$}", a.loginSubmit)
	mux.HandleFunc("POST /logout/{$}", a.logoutSubmit)
	mux.HandleFunc("GET /{$}", a.signedIn(a.dashboardPage))
	for path, rs := range resources {
		a.resourcePages(mux, path, rs)
	}
	mux.HandleFunc("GET /documents/{$}", a.signedIn(func(w http.ResponseWriter, r *http.Request, u *user) {
		docs, err := a.documents(r.Context())
		if err != nil {
			a.pageFailed(w, r, "documents", pageData{User: u}, err)
			return
		}
		a.render(w, r, http.StatusOK, "documents", pageData{User: u, Title: "Documents", Active: "documents", Docs: docs})
	}))
	mux.HandleFunc("GET /applicants/{$}", a.signedIn(func(w http.ResponseWriter, r *http.Request, u *user) {
		people, err := a.applicants(r.Context())
		if err != nil {
			a.pageFailed(w, r, "applicants", pageData{User: u}, err)
			return
		}
		a.render(w, r, http.StatusOK, "applicants", pageData{User: u, Title: "Applicants", Active: "applicants", People: people})
	}))
}

// theme is the tenant's stylesheet: its colour as a CSS custom property.
func (a *app) theme(w http.ResponseWriter, r *http.Request) {
	t := tenant.MustFromContext(r.Context())
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write([]byte(":root{--brand:" + themeColour(t.Branding.PrimaryColor) + "}\n"))
}

func (a *app) loginPage(w http.ResponseWriter, r *http.Request) {
	if _, ok := session.FromContext(r.Context()); ok {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	a.render(w, r, http.StatusOK, "login", pageData{Title: "Sign in"})
}

func (a *app) loginSubmit(w http.ResponseWriter, r *http.Request) {
	d := pageData{Title: "Sign in"}
	vals, err := readForm(w, r, 16<<10, "email", "password")
	if err != nil {
		a.pageFailed(w, r, "login", d, err)
		return
	}
	d.Form = map[string]string{"email": vals["email"]}
	c := loginForm{Email: strings.TrimSpace(vals["email"]), Password: vals["password"]}
	if err := c.check(); err != nil {
		a.pageFailed(w, r, "login", d, err)
		return
	}
	u, ok, err := a.authenticate(r.Context(), c)
	if err != nil {
		a.pageFailed(w, r, "login", d, err)
		return
	}
	if !ok {
		d.Error = "Invalid email or password."
		a.render(w, r, http.StatusUnauthorized, "login", d)
		return
	}
	if _, err := a.sessions.Login(w, r, strconv.FormatInt(u.ID, 10), nil); err != nil {
		a.pageFailed(w, r, "login", d, err)
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (a *app) logoutSubmit(w http.ResponseWriter, r *http.Request) {
	if err := a.sessions.Logout(w, r); err != nil {
		a.pageFailed(w, r, "error", pageData{}, err)
		return
	}
	http.Redirect(w, r, "/login/", http.StatusSeeOther)
}

func (a *app) dashboardPage(w http.ResponseWriter, r *http.Request, u *user) {
	ctx := r.Context()
	o, err := a.overview(ctx, u.ID, "all")
	if err != nil {
		a.pageFailed(w, r, "dashboard", pageData{User: u}, err)
		return
	}
	a.render(w, r, http.StatusOK, "dashboard", pageData{User: u, Title: "Dashboard", Active: "dashboard", Overview: o})
}

// resourcePages serves a resource's list page with its create form, and
// the create, update and delete form posts; leads also get an edit page.
// Each post redirects to the list (303) or shows the form again with what
// is wrong.
func (a *app) resourcePages(mux *http.ServeMux, path string, rs *resource) {
	list := func(w http.ResponseWriter, r *http.Request, u *user, code int, d pageData) {
		items, err := a.list(r.Context(), rs)
		if err != nil {
			a.pageFailed(w, r, path, pageData{User: u}, err)
			return
		}
		d.User, d.Items, d.Active = u, items, path
		d.Title = strings.ToUpper(path[:1]) + path[1:]
		d.Statuses = statuses
		a.render(w, r, code, path, d)
	}
	mux.HandleFunc("GET /"+path+"/{$}", a.signedIn(func(w http.ResponseWriter, r *http.Request, u *user) {
		list(w, r, u, http.StatusOK, pageData{})
	}))
	mux.HandleFunc("POST /"+path+"/{$}", a.signedIn(func(w http.ResponseWriter, r *http.Request, u *user) {
		vals, form, err := rs.decodeForm(w, r, true)
		if err == nil {
			_, err = a.create(r.Context(), rs, vals)
		}
		if err != nil {
			d := pageData{Form: form}
			if !errors.As(err, new(badRequest)) {
				a.pageFailed(w, r, path, pageData{User: u}, err)
				return
			}
			d.Error = err.Error()
			list(w, r, u, http.StatusBadRequest, d)
			return
		}
		http.Redirect(w, r, "/"+path+"/", http.StatusSeeOther)
	}))
	mux.HandleFunc("POST /"+path+"/{id}/{$}", a.signedIn(func(w http.ResponseWriter, r *http.Request, u *user) {
		id, ok := a.pageID(w, r, u)
		if !ok {
			return
		}
		vals, form, err := rs.decodeForm(w, r, false)
		if err == nil {
			_, err = a.update(r.Context(), rs, id, vals)
		}
		if err != nil {
			if !errors.As(err, new(badRequest)) {
				a.pageFailed(w, r, path, pageData{User: u}, err)
				return
			}
			if path == "leads" {
				a.leadPage(w, r, u, id, http.StatusBadRequest, pageData{Form: form, Error: err.Error()})
				return
			}
			list(w, r, u, http.StatusBadRequest, pageData{Error: err.Error()})
			return
		}
		http.Redirect(w, r, "/"+path+"/", http.StatusSeeOther)
	}))
	mux.HandleFunc("POST /"+path+"/{id}/delete/{$}", a.signedIn(func(w http.ResponseWriter, r *http.Request, u *user) {
		id, ok := a.pageID(w, r, u)
		if !ok {
			return
		}
		if err := a.remove(r.Context(), rs, id); err != nil {
			a.pageFailed(w, r, path, pageData{User: u}, err)
			return
		}
		http.Redirect(w, r, "/"+path+"/", http.StatusSeeOther)
	}))
	if path == "leads" {
		mux.HandleFunc("GET /leads/{id}/{$}", a.signedIn(func(w http.ResponseWriter, r *http.Request, u *user) {
			if id, ok := a.pageID(w, r, u); ok {
				a.leadPage(w, r, u, id, http.StatusOK, pageData{})
			}
		}))
	}
}

// statuses are a lead's statuses, in the order the form offers them.
var statuses = resources["leads"].fields[3].enum

// leadPage renders a lead's edit form; another tenant's lead is not found
// (and audited by get), exactly like a missing one.
func (a *app) leadPage(w http.ResponseWriter, r *http.Request, u *user, id int64, code int, d pageData) {
	item, err := a.get(r.Context(), resources["leads"], id)
	if err != nil {
		a.pageFailed(w, r, "lead", pageData{User: u}, err)
		return
	}
	d.User, d.Item, d.Active, d.Statuses = u, item, "leads", statuses
	d.Title = "Lead"
	if d.Form == nil {
		d.Form = map[string]string{}
		for _, f := range resources["leads"].fields {
			d.Form[f.name], _ = item[f.name].(string)
		}
	}
	a.render(w, r, code, "lead", d)
}

// pageID parses {id}; anything but a positive integer is not found.
func (a *app) pageID(w http.ResponseWriter, r *http.Request, u *user) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		a.pageFailed(w, r, "notfound", pageData{User: u}, errNotFound)
		return 0, false
	}
	return id, true
}
