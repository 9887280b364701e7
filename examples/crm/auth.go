package main

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/tenantwall/tenantwall/jwtclaims"
	"github.com/tenantwall/tenantwall/session"
	"github.com/tenantwall/tenantwall/sqlscope"
	"github.com/tenantwall/tenantwall/tenant"
)

// user is the authenticated principal of a request.
type user struct {
	ID    int64  `json:"id"`
	Email string `json:"email"`
	Name  string `json:"name"`
}

type userKey struct{}

func userFrom(ctx context.Context) user { u, _ := ctx.Value(userKey{}).(user); return u }

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
		a.respond(w, r, 0, nil, err)
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

type loginForm struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// decodeStrict reads one JSON object of a body sent as application/json
// into v, refusing unknown fields and bodies over 16 KiB.
func decodeStrict(w http.ResponseWriter, r *http.Request, v any) error {
	if err := requireJSON(r); err != nil {
		return err
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, errSlowBody) || tooLarge(err) {
			return err // respond answers 408 or 413
		}
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) {
			return badRequest{"field \"" + ute.Field + "\" has the wrong type"}
		}
		if msg := err.Error(); strings.HasPrefix(msg, "json: unknown field ") {
			return badRequest{"field " + strings.TrimPrefix(msg, "json: unknown field ") + " is not allowed"}
		}
		return badRequest{"body: a JSON object is required"}
	}
	return nil
}

func (c loginForm) check() error {
	if c.Email == "" {
		return badRequest{`field "email" is required`}
	}
	if c.Password == "" {
		return badRequest{`field "password" is required`}
	}
	return nil
}

// dummyHash makes a failed lookup cost as much as a failed password, so
// timing does not tell which emails exist.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("timing equaliser"), bcrypt.DefaultCost)

// authenticate checks credentials against the context tenant's users.
func (a *app) authenticate(ctx context.Context, c loginForm) (user, bool, error) {
	var u user
	var hash string
	err := a.data.tx(ctx, func(f *sqlscope.Filter) error {
		return f.QueryRow(ctx, a.data.q(`SELECT id, email, name, password_hash FROM users WHERE tenant_id = {tenant} AND email = ?`),
			strings.ToLower(c.Email)).Scan(&u.ID, &u.Email, &u.Name, &hash)
	})
	if errors.Is(err, sql.ErrNoRows) {
		_ = bcrypt.CompareHashAndPassword(dummyHash, []byte(c.Password))
		return user{}, false, nil
	}
	if err != nil {
		return user{}, false, err
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(c.Password)) != nil {
		return user{}, false, nil
	}
	return u, true, nil
}

func (a *app) userByID(ctx context.Context, id int64) (user, error) {
	var u user
	err := a.data.tx(ctx, func(f *sqlscope.Filter) error {
		return f.QueryRow(ctx, a.data.q(`SELECT id, email, name FROM users WHERE tenant_id = {tenant} AND id = ?`), id).Scan(&u.ID, &u.Email, &u.Name)
	})
	return u, err
}

// signIn authenticates the email and password of the request body against
// the request tenant's users. On failure it has answered the request.
func (a *app) signIn(w http.ResponseWriter, r *http.Request) (user, bool) {
	var c loginForm
	if err := decodeStrict(w, r, &c); err != nil {
		a.respond(w, r, 0, nil, err)
		return user{}, false
	}
	if err := c.check(); err != nil {
		a.respond(w, r, 0, nil, err)
		return user{}, false
	}
	u, ok, err := a.authenticate(r.Context(), c)
	if err != nil {
		a.respond(w, r, 0, nil, err)
		return user{}, false
	}
	if !ok {
		writeError(w, http.StatusUnauthorized, "invalid email or password")
	}
	return u, ok
}

func (a *app) login(w http.ResponseWriter, r *http.Request) {
	u, ok := a.signIn(w, r)
	if !ok {
		return
	}
	if _, err := a.sessions.Login(w, r, strconv.FormatInt(u.ID, 10), nil); err != nil {
		a.respond(w, r, 0, nil, err)
		return
	}
	writeJSON(w, http.StatusOK, u)
}

func (a *app) logout(w http.ResponseWriter, r *http.Request) {
	if err := a.sessions.Logout(w, r); err != nil {
		a.respond(w, r, 0, nil, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *app) me(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, userFrom(r.Context()))
}

func (a *app) token(w http.ResponseWriter, r *http.Request) {
	u, ok := a.signIn(w, r)
	if !ok {
		return
	}
	access, refresh, err := a.tokens.Issue(r.Context(), strconv.FormatInt(u.ID, 10))
	a.respond(w, r, http.StatusOK, map[string]string{"access": access, "refresh": refresh}, err)
}

func (a *app) refresh(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Refresh string `json:"refresh"`
	}
	if err := decodeStrict(w, r, &body); err != nil {
		a.respond(w, r, 0, nil, err)
		return
	}
	if body.Refresh == "" {
		a.respond(w, r, 0, nil, badRequest{`field "refresh" is required`})
		return
	}
	access, err := a.tokens.Refresh(r.Context(), body.Refresh)
	if err != nil && unavailable(err) {
		a.respond(w, r, 0, nil, err)
		return
	}
	if err != nil {
		writeError(w, http.StatusUnauthorized, "invalid refresh token")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"access": access})
}

// authed admits requests with a valid Bearer token or session of the
// request's tenant. A request that sends a token is judged by it alone.
func (a *app) authed(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var subject string
		if len(r.Header.Values("Authorization")) > 0 {
			tok, ok := bearerToken(r)
			if ok {
				c, err := a.tokens.Validate(r.Context(), tok, jwtclaims.Access)
				if err != nil && unavailable(err) {
					// The keys could not be read: the token was not judged.
					a.respond(w, r, 0, nil, err)
					return
				}
				if err == nil {
					subject = c.Subject
				}
			}
			if subject == "" {
				w.Header().Set("WWW-Authenticate", `Bearer realm="api", error="invalid_token"`)
				writeError(w, http.StatusUnauthorized, "unauthenticated")
				return
			}
		} else if s, ok := session.FromContext(r.Context()); ok {
			subject = s.UserID
		}
		id, err := strconv.ParseInt(subject, 10, 64)
		if subject == "" || err != nil {
			writeError(w, http.StatusUnauthorized, "unauthenticated")
			return
		}
		u, err := a.userByID(r.Context(), id)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			// A deleted user's session or token authenticates nobody.
			writeError(w, http.StatusUnauthorized, "unauthenticated")
			return
		case err != nil:
			// The lookup failed, which says nothing about the
			// credentials: 503 when the database is down, never 401.
			a.respond(w, r, 0, nil, err)
			return
		}
		next(w, r.WithContext(context.WithValue(r.Context(), userKey{}, u)))
	}
}

// verifiedTokens is how many verified access tokens the server remembers,
// so that a client's next requests skip the Ed25519 signature check (about
// a fifth of the server's CPU per request when done every time). A token
// lives 15 minutes: this covers ten thousand clients active in that time,
// at a few hundred bytes each. Beyond that, tokens are evicted and simply
// verified in full again. Keys are removed only through the key source
// (signingkeys.go), which the cache consults on every hit.
const verifiedTokens = 10_000

// bearerToken returns the token of the request's one "Authorization:
// Bearer" header. jwtclaims reads the header itself inside its Middleware;
// the CRM reads it here because a route accepts a token or a session, and
// the operator API a static token.
func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Values("Authorization")
	if len(h) != 1 {
		return "", false
	}
	scheme, tok, ok := strings.Cut(h[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" || len(tok) > 8192 {
		return "", false
	}
	return tok, true
}

// operatorAuth checks the operator token in constant time.
func (a *app) operatorAuth(r *http.Request) bool {
	tok, ok := bearerToken(r)
	return ok && a.cfg.operator != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(a.cfg.operator)) == 1
}
