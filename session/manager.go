package session

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"time"

	"github.com/tenantwall/tenantwall/tenant"
)

// Defaults of the options.
const (
	DefaultName        = "session"
	DefaultIdleTimeout = 30 * time.Minute
	DefaultLifetime    = 12 * time.Hour
)

// tokenLen is the length of a token: 32 random bytes (256 bits), base64url.
const tokenLen = 43

// Manager runs tenant-bound sessions over a Store. It is safe for
// concurrent use.
type Manager struct {
	store    Store
	name     string
	idle     time.Duration
	lifetime time.Duration
	secure   *bool // nil: decide per request (TLS)
	auditor  tenant.Auditor
	now      func() time.Time
}

// Option configures a Manager.
type Option func(*Manager) error

// WithCookieName sets the cookie's base name (default DefaultName). Over
// TLS the cookie is named "__Host-<name>", which browsers accept only
// host-only, Secure and with Path=/.
func WithCookieName(name string) Option {
	return func(m *Manager) error {
		if name == "" || len(name) > 64 {
			return fmt.Errorf("%w: cookie name %q", ErrConfig, name)
		}
		for i := 0; i < len(name); i++ {
			if c := name[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
				return fmt.Errorf("%w: cookie name %q", ErrConfig, name)
			}
		}
		m.name = name
		return nil
	}
}

// WithTimeouts sets the idle timeout (a session unused that long ends) and
// the absolute lifetime (a session ends that long after login, however
// busy). Defaults DefaultIdleTimeout and DefaultLifetime.
func WithTimeouts(idle, lifetime time.Duration) Option {
	return func(m *Manager) error {
		if idle <= 0 || lifetime < idle {
			return fmt.Errorf("%w: timeouts %v, %v", ErrConfig, idle, lifetime)
		}
		m.idle, m.lifetime = idle, lifetime
		return nil
	}
}

// WithSecure forces the Secure attribute and the __Host- name on or off,
// for servers behind a TLS-terminating proxy (on) or local development
// (off). By default it follows whether the request came over TLS.
func WithSecure(on bool) Option { return func(m *Manager) error { m.secure = &on; return nil } }

// WithAuditor sets where sessions presented on the wrong tenant are
// reported (default tenant.DefaultAuditor).
func WithAuditor(a tenant.Auditor) Option {
	return func(m *Manager) error { m.auditor = tenant.OrDefault(a); return nil }
}

// WithClock replaces time.Now, for tests.
func WithClock(now func() time.Time) Option {
	return func(m *Manager) error { m.now = now; return nil }
}

// New returns a Manager over store.
func New(store Store, opts ...Option) (*Manager, error) {
	if store == nil {
		return nil, fmt.Errorf("%w: nil store", ErrConfig)
	}
	m := &Manager{store: store, name: DefaultName, idle: DefaultIdleTimeout, lifetime: DefaultLifetime,
		auditor: tenant.DefaultAuditor, now: time.Now}
	for _, o := range opts {
		if err := o(m); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Session is the request's session. Read it with FromContext.
type Session struct {
	hash string
	Record
}

type ctxKey struct{}

// FromContext returns the session Middleware loaded, if any.
func FromContext(ctx context.Context) (*Session, bool) {
	s, ok := ctx.Value(ctxKey{}).(*Session)
	return s, ok && s != nil
}

func (m *Manager) secureFor(r *http.Request) bool {
	if m.secure != nil {
		return *m.secure
	}
	return r.TLS != nil
}

func (m *Manager) cookieName(r *http.Request) string {
	if m.secureFor(r) {
		return "__Host-" + m.name
	}
	return m.name
}

// token returns the request's session token: "" for none, and
// ErrCookieTossing when several cookies carry the name.
func (m *Manager) token(r *http.Request) (string, error) {
	name := m.cookieName(r)
	var tok string
	n := 0
	for _, c := range r.Cookies() {
		if c.Name == name {
			n++
			tok = c.Value
		}
	}
	if n > 1 {
		return "", ErrCookieTossing
	}
	if len(tok) != tokenLen {
		return "", nil
	}
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return "", nil
		}
	}
	return tok, nil
}

// Middleware loads the request's session into its context. It must run
// inside the tenant resolver. A session of another tenant is treated as
// absent and reported to the auditor; expired sessions are deleted;
// several session cookies answer 400; a store failure answers 503 — never
// an anonymous or foreign session.
func (m *Manager) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := m.load(r)
		switch {
		case err == ErrCookieTossing:
			m.auditor.Audit(r.Context(), tenant.Event{Kind: tenant.EventCrossTenant, Package: "session", Resource: "several session cookies", Err: err})
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		case err != nil:
			w.Header().Set("Retry-After", "5")
			http.Error(w, "service unavailable", http.StatusServiceUnavailable)
			return
		}
		if s != nil {
			r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, s))
		}
		next.ServeHTTP(w, r)
	})
}

func (m *Manager) load(r *http.Request) (*Session, error) {
	ctx := r.Context()
	tok, err := m.token(r)
	if err != nil || tok == "" {
		return nil, err
	}
	id, err := tenant.IDFromContext(ctx)
	if err != nil {
		return nil, nil // no tenant, no session
	}
	hash := Hash(tok)
	rec, found, err := m.store.Find(ctx, hash)
	if err != nil || !found {
		return nil, err
	}
	if rec.TenantID != id {
		m.auditor.Audit(ctx, tenant.Event{Kind: tenant.EventCrossTenant, Package: "session",
			TenantID: id, OwnerID: rec.TenantID, Resource: "session of user " + rec.UserID})
		return nil, nil
	}
	now := m.now()
	if !now.Before(rec.Deadline) || !now.Before(rec.LastSeen.Add(m.idle)) {
		return nil, m.store.Delete(ctx, hash)
	}
	// Extend the idle window, at most once a minute per session.
	if now.Sub(rec.LastSeen) > time.Minute {
		rec.LastSeen = now
		if err := m.store.Save(ctx, hash, rec, m.ttl(rec, now)); err != nil {
			return nil, err
		}
	}
	return &Session{hash: hash, Record: rec}, nil
}

func (m *Manager) ttl(rec Record, now time.Time) time.Duration {
	return min(m.idle, rec.Deadline.Sub(now))
}

// Login starts a session for userID on the request's tenant and sets its
// cookie. Any session the request carried is destroyed first, so a token
// planted before login (fixation) is worthless after it.
func (m *Manager) Login(w http.ResponseWriter, r *http.Request, userID string, values map[string]string) (*Session, error) {
	id, err := tenant.IDFromContext(r.Context())
	if err != nil {
		return nil, err
	}
	if old, ok := FromContext(r.Context()); ok {
		if err := m.store.Delete(r.Context(), old.hash); err != nil {
			return nil, err
		}
	} else if tok, _ := m.token(r); tok != "" {
		// A token we did not load (expired, foreign) still dies here.
		if err := m.store.Delete(r.Context(), Hash(tok)); err != nil {
			return nil, err
		}
	}
	now := m.now()
	rec := Record{TenantID: id, UserID: userID, Values: values, Created: now, LastSeen: now, Deadline: now.Add(m.lifetime)}
	return m.issue(w, r, rec)
}

// Renew gives the request's session a new token, keeping its data: call it
// on every privilege change.
func (m *Manager) Renew(w http.ResponseWriter, r *http.Request) (*Session, error) {
	s, ok := FromContext(r.Context())
	if !ok {
		return nil, ErrNoSession
	}
	if err := m.store.Delete(r.Context(), s.hash); err != nil {
		return nil, err
	}
	rec := s.Record
	rec.LastSeen = m.now()
	return m.issue(w, r, rec)
}

// Set stores a value in the request's session.
func (m *Manager) Set(r *http.Request, key, value string) error {
	s, ok := FromContext(r.Context())
	if !ok {
		return ErrNoSession
	}
	if s.Values == nil {
		s.Values = map[string]string{}
	}
	s.Values[key] = value
	return m.store.Save(r.Context(), s.hash, s.Record, m.ttl(s.Record, m.now()))
}

func (m *Manager) issue(w http.ResponseWriter, r *http.Request, rec Record) (*Session, error) {
	var b [32]byte
	rand.Read(b[:])
	tok := base64.RawURLEncoding.EncodeToString(b[:])
	hash := Hash(tok)
	now := m.now()
	if err := m.store.Save(r.Context(), hash, rec, m.ttl(rec, now)); err != nil {
		return nil, err
	}
	http.SetCookie(w, m.cookie(r, tok, rec.Deadline))
	return &Session{hash: hash, Record: rec}, nil
}

// Logout destroys the request's session and clears its cookie.
func (m *Manager) Logout(w http.ResponseWriter, r *http.Request) error {
	if s, ok := FromContext(r.Context()); ok {
		if err := m.store.Delete(r.Context(), s.hash); err != nil {
			return err
		}
	}
	c := m.cookie(r, "", time.Unix(0, 0))
	c.MaxAge = -1
	http.SetCookie(w, c)
	return nil
}

// DestroyUser ends every session of a user of the context tenant (after a
// password change, say).
func (m *Manager) DestroyUser(ctx context.Context, userID string) error {
	id, err := tenant.IDFromContext(ctx)
	if err != nil {
		return err
	}
	return m.store.DeleteUser(ctx, id, userID)
}

// DestroyTenant ends every session of a tenant. It is platform work: ctx
// must carry tenant.WithPlatformScope's reason.
func (m *Manager) DestroyTenant(ctx context.Context, tenantID string) error {
	reason, ok := tenant.PlatformScope(ctx)
	if !ok {
		return fmt.Errorf("session: destroy tenant without tenant.WithPlatformScope: %w", tenant.ErrNoTenant)
	}
	if err := tenant.ValidateID(tenantID); err != nil {
		return err
	}
	m.auditor.Audit(ctx, tenant.Event{Kind: tenant.EventPlatformAccess, Package: "session", OwnerID: tenantID, Resource: "destroy sessions: " + reason})
	return m.store.DeleteTenant(ctx, tenantID)
}

// cookie builds the session cookie: host-only (never a Domain), Path=/,
// HttpOnly, SameSite=Lax, and Secure with the __Host- name over TLS.
func (m *Manager) cookie(r *http.Request, value string, expires time.Time) *http.Cookie {
	return &http.Cookie{
		Name:     m.cookieName(r),
		Value:    value,
		Path:     "/",
		Expires:  expires,
		HttpOnly: true,
		Secure:   m.secureFor(r),
		SameSite: http.SameSiteLaxMode,
	}
}
