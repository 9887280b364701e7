package session

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"sync"
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
	store Store
	options
}

// Option configures a Manager. Options write to a private options value,
// never to a live Manager, and an invalid one makes New return an error
// wrapping ErrConfig that names it.
type Option func(*options) error

// options are what New's options set; Manager embeds them.
type options struct {
	name     string
	idle     time.Duration
	lifetime time.Duration
	secure   *bool // nil: decide per request (TLS)
	auditor  tenant.Auditor
	now      func() time.Time
	cop      *http.CrossOriginProtection // configured only by New's options
	deny     http.Handler
	failed   http.Handler
}

// WithCookieName sets the cookie's base name (default DefaultName). Over
// TLS the cookie is named "__Host-<name>", which browsers accept only
// host-only, Secure and with Path=/.
func WithCookieName(name string) Option {
	return func(o *options) error {
		if name == "" || len(name) > 64 {
			return fmt.Errorf("%w: WithCookieName(%q): 1 to 64 characters", ErrConfig, name)
		}
		for i := 0; i < len(name); i++ {
			if c := name[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
				return fmt.Errorf("%w: WithCookieName(%q): character %q", ErrConfig, name, c)
			}
		}
		o.name = name
		return nil
	}
}

// WithTimeouts sets the idle timeout (a session unused that long ends) and
// the absolute lifetime (a session ends that long after login, however
// busy). Defaults DefaultIdleTimeout and DefaultLifetime.
func WithTimeouts(idle, lifetime time.Duration) Option {
	return func(o *options) error {
		if idle <= 0 || lifetime < idle {
			return fmt.Errorf("%w: WithTimeouts(%v, %v): idle must be positive and at most lifetime", ErrConfig, idle, lifetime)
		}
		o.idle, o.lifetime = idle, lifetime
		return nil
	}
}

// WithSecure forces the Secure attribute and the __Host- name on or off,
// for servers behind a TLS-terminating proxy (on) or local development
// (off). By default it follows whether the request came over TLS.
func WithSecure(on bool) Option { return func(o *options) error { o.secure = &on; return nil } }

// WithAuditor sets where sessions presented on the wrong tenant are
// reported (default tenant.DefaultAuditor).
func WithAuditor(a tenant.Auditor) Option {
	return func(o *options) error { o.auditor = tenant.OrDefault(a); return nil }
}

// WithTrustedOrigins lets unsafe requests from these origins through the
// cross-origin check (by default none is trusted: only same-origin
// requests and requests without browser origin headers pass). Each origin
// must be written exactly as browsers send the Origin header —
// "https://app.example.com" or "http://localhost:3000": scheme http or
// https, lowercase ASCII host (punycode for IDN), no default port, no path,
// no user — since it is compared byte for byte; anything else makes New
// fail with ErrConfig.
func WithTrustedOrigins(origins ...string) Option {
	return func(o *options) error {
		for _, origin := range origins {
			if err := checkOrigin(origin); err != nil {
				return err
			}
			if err := o.cop.AddTrustedOrigin(origin); err != nil {
				return fmt.Errorf("%w: WithTrustedOrigins: origin %q: %v", ErrConfig, origin, err)
			}
		}
		return nil
	}
}

// WithDenyHandler sets the handler that answers a request refused by the
// cross-origin check (default: 403 with a plain-text body). It should
// answer 403 and must not act on the request.
func WithDenyHandler(h http.Handler) Option {
	return func(o *options) error {
		if h == nil {
			return fmt.Errorf("%w: WithDenyHandler(nil)", ErrConfig)
		}
		o.deny = h
		return nil
	}
}

// WithErrorHandler sets the handler that answers a request whose session
// could not be read because the store failed (default: 503 with
// Retry-After and a plain-text body). It should answer 503: the session may well be alive, so the
// handler must neither clear the cookie nor treat the request as
// anonymous.
func WithErrorHandler(h http.Handler) Option {
	return func(o *options) error {
		if h == nil {
			return fmt.Errorf("%w: WithErrorHandler(nil)", ErrConfig)
		}
		o.failed = h
		return nil
	}
}

// WithClock replaces time.Now, for tests. A nil clock is an error.
func WithClock(now func() time.Time) Option {
	return func(o *options) error {
		if now == nil {
			return fmt.Errorf("%w: WithClock(nil)", ErrConfig)
		}
		o.now = now
		return nil
	}
}

// New returns a Manager over store.
func New(store Store, opts ...Option) (*Manager, error) {
	if store == nil {
		return nil, fmt.Errorf("%w: nil store", ErrConfig)
	}
	o := options{name: DefaultName, idle: DefaultIdleTimeout, lifetime: DefaultLifetime,
		auditor: tenant.DefaultAuditor, now: time.Now, cop: http.NewCrossOriginProtection(), deny: http.HandlerFunc(denyCrossOrigin),
		failed: http.HandlerFunc(storeUnavailable)}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	return &Manager{store: store, options: o}, nil
}

// Session is a snapshot of the request's session, read with FromContext
// or returned by Login and Renew. Treat it as read-only: change values
// with Manager.Set, which writes them under the request's current token.
type Session struct {
	Record
}

// state is the one holder of a request's current token hash. Middleware
// puts one in every request's context, and every write goes through it
// under its lock: Login and Renew move it to the new token before anything
// else can write, Logout clears it, and Set writes only to the hash it
// holds, through Store.Update, which cannot recreate a deleted record. So
// no write of this request, or of a concurrent one holding the old token,
// can bring a rotated-out token back.
type state struct {
	mu   sync.Mutex
	hash string   // "" when the request has no session (any more)
	sess *Session // nil exactly when hash is ""
	// noCookie: the request failed the cross-origin check but carries a
	// bearer token, so its cookie must not be used, not even to be
	// deleted by Login.
	noCookie bool
}

// end forgets the session; st.mu must be held.
func (st *state) end() { st.hash, st.sess = "", nil }

type ctxKey struct{}

func stateFrom(ctx context.Context) *state {
	st, _ := ctx.Value(ctxKey{}).(*state)
	return st
}

// FromContext returns the request's current session: the one Middleware
// loaded, or the one a later Login or Renew in the same request started.
// After Logout, or once the session was found ended by another request,
// it reports none.
func FromContext(ctx context.Context) (*Session, bool) {
	st := stateFrom(ctx)
	if st == nil {
		return nil, false
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.sess, st.sess != nil
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
// inside the tenant resolver.
//
// Every request with an unsafe method (anything but GET, HEAD and OPTIONS)
// first passes net/http's cross-origin check (Sec-Fetch-Site, then Origin
// against Host; see WithTrustedOrigins). A request that fails it is
// refused with the deny handler (403) and audited, unless it carries an
// Authorization: Bearer token — a header no cross-site page can make a
// browser send — in which case it goes on without its cookie session.
//
// A session of another tenant is treated as absent and reported to the
// auditor; expired sessions are deleted; several session cookies answer
// 400 and are deleted (see tossing.go); a store failure answers 503 —
// never an anonymous or foreign session.
func (m *Manager) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := &state{}
		if err := m.cop.Check(r); err != nil {
			if !hasBearer(r) {
				m.auditCrossOrigin(r, err)
				m.deny.ServeHTTP(w, r)
				return
			}
			st.noCookie = true
		}
		if !st.noCookie {
			s, hash, err := m.load(r)
			switch {
			case err == ErrCookieTossing:
				m.auditor.Audit(r.Context(), tenant.Event{Kind: tenant.EventCrossTenant, Package: "session", Resource: "several session cookies", Err: err})
				m.clearTossed(w, r) // tossing.go
				http.Error(w, "bad request", http.StatusBadRequest)
				return
			case err != nil:
				// The session's state is unknown, not absent: neither
				// anonymous service nor a cleared cookie would be true.
				m.failed.ServeHTTP(w, r)
				return
			}
			st.hash, st.sess = hash, s
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, st)))
	})
}

func (m *Manager) load(r *http.Request) (*Session, string, error) {
	ctx := r.Context()
	tok, err := m.token(r)
	if err != nil || tok == "" {
		return nil, "", err
	}
	id, err := tenant.IDFromContext(ctx)
	if err != nil {
		return nil, "", nil // no tenant, no session
	}
	hash := hashToken(tok)
	rec, found, err := m.store.Find(ctx, hash)
	if err != nil {
		return nil, "", storeErr("find", err)
	}
	if !found {
		return nil, "", nil
	}
	if rec.TenantID != id {
		m.auditor.Audit(ctx, tenant.Event{Kind: tenant.EventCrossTenant, Package: "session",
			TenantID: id, OwnerID: rec.TenantID, Resource: "session of user " + rec.UserID})
		return nil, "", nil
	}
	now := m.now()
	ttl := m.ttl(rec, now)
	if ttl <= 0 || !now.Before(rec.LastSeen.Add(m.idle)) {
		return nil, "", storeErr("delete expired", m.store.Delete(ctx, hash))
	}
	// Extend the idle window, at most once a minute per session. Update
	// writes nothing if another request ended the session since Find.
	if now.Sub(rec.LastSeen) > time.Minute {
		rec.LastSeen = now
		found, err := m.store.Update(ctx, hash, rec, ttl)
		if err != nil {
			return nil, "", storeErr("update", err)
		}
		if !found {
			return nil, "", nil
		}
	}
	return &Session{Record: rec}, hash, nil
}

// ttl is how long a record may live from now: until the idle timeout or
// the absolute deadline, whichever is first. Zero or less means over.
func (m *Manager) ttl(rec Record, now time.Time) time.Duration {
	return min(m.idle, rec.Deadline.Sub(now))
}

// Login starts a session for userID on the request's tenant and sets its
// cookie. Any session the request carried is destroyed first, so a token
// planted before login (fixation) is worthless after it. From then on the
// request's session (FromContext, Set) is the new one.
func (m *Manager) Login(w http.ResponseWriter, r *http.Request, userID string, values map[string]string) (*Session, error) {
	ctx := r.Context()
	id, err := tenant.IDFromContext(ctx)
	if err != nil {
		return nil, err
	}
	st := stateFrom(ctx)
	if st != nil {
		st.mu.Lock()
		defer st.mu.Unlock()
	}
	var old string
	if st != nil && st.hash != "" {
		old = st.hash
		st.end()
	} else if tok, _ := m.token(r); tok != "" && (st == nil || !st.noCookie) {
		// A token we did not load (expired, foreign) still dies here.
		old = hashToken(tok)
	}
	if old != "" {
		if err := m.store.Delete(ctx, old); err != nil {
			return nil, storeErr("delete", err)
		}
	}
	now := m.now()
	rec := copyRecord(Record{TenantID: id, UserID: userID, Values: values, Created: now, LastSeen: now, Deadline: now.Add(m.lifetime)})
	s, hash, err := m.issue(w, r, rec)
	if err != nil {
		return nil, err
	}
	if st != nil {
		st.hash, st.sess = hash, s
	}
	return s, nil
}

// Renew gives the request's session a new token, keeping its data: call it
// on every privilege change. The old token is deleted before the new one
// is written, and the request's session moves to the new token, so a
// later Set writes there and nowhere else. If the new token cannot be
// written the request is left without a session.
func (m *Manager) Renew(w http.ResponseWriter, r *http.Request) (*Session, error) {
	st := stateFrom(r.Context())
	if st == nil {
		return nil, ErrNoSession
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.sess == nil {
		return nil, ErrNoSession
	}
	old, rec := st.hash, copyRecord(st.sess.Record)
	st.end()
	if err := m.store.Delete(r.Context(), old); err != nil {
		return nil, storeErr("delete", err)
	}
	rec.LastSeen = m.now()
	s, hash, err := m.issue(w, r, rec)
	if err != nil {
		return nil, err
	}
	st.hash, st.sess = hash, s
	return s, nil
}

// Set stores a value in the request's session, under its current token.
// It returns ErrNoSession when the request has no session, including one
// that ended meanwhile (logged out, renewed or destroyed by another
// request): the write then goes nowhere.
func (m *Manager) Set(r *http.Request, key, value string) error {
	st := stateFrom(r.Context())
	if st == nil {
		return ErrNoSession
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.sess == nil {
		return ErrNoSession
	}
	rec := copyRecord(st.sess.Record)
	if rec.Values == nil {
		rec.Values = map[string]string{}
	}
	rec.Values[key] = value
	ttl := m.ttl(rec, m.now())
	if ttl <= 0 {
		st.end()
		return fmt.Errorf("%w: the session reached its lifetime", ErrNoSession)
	}
	found, err := m.store.Update(r.Context(), st.hash, rec, ttl)
	if err != nil {
		return storeErr("update", err)
	}
	if !found {
		st.end()
		return fmt.Errorf("%w: the session ended in another request", ErrNoSession)
	}
	st.sess = &Session{Record: rec}
	return nil
}

// issue writes rec under a fresh random token and sets its cookie.
func (m *Manager) issue(w http.ResponseWriter, r *http.Request, rec Record) (*Session, string, error) {
	var b [32]byte
	rand.Read(b[:])
	tok := base64.RawURLEncoding.EncodeToString(b[:])
	hash := hashToken(tok)
	ttl := m.ttl(rec, m.now())
	if ttl <= 0 {
		return nil, "", fmt.Errorf("%w: the session reached its lifetime", ErrNoSession)
	}
	if err := m.store.Create(r.Context(), hash, rec, ttl); err != nil {
		return nil, "", storeErr("create", err)
	}
	http.SetCookie(w, m.cookie(r, tok, rec.Deadline))
	return &Session{Record: rec}, hash, nil
}

// Logout destroys the request's session and clears its cookie. After it
// the request has no session: a later Set in it returns ErrNoSession.
func (m *Manager) Logout(w http.ResponseWriter, r *http.Request) error {
	if st := stateFrom(r.Context()); st != nil {
		st.mu.Lock()
		old := st.hash
		st.end()
		st.mu.Unlock()
		if old != "" {
			if err := m.store.Delete(r.Context(), old); err != nil {
				return storeErr("delete", err)
			}
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
	return storeErr("delete user", m.store.DeleteUser(ctx, id, userID))
}

// DestroyTenant ends every session of a tenant. It is platform work: ctx
// must carry tenant.WithPlatformScope's reason.
func (m *Manager) DestroyTenant(ctx context.Context, tenantID string) error {
	// The ID is checked first so that an audit record never names a
	// malformed tenant.
	if err := tenant.ValidateID(tenantID); err != nil {
		return err
	}
	if _, err := tenant.RequirePlatformScope(ctx, m.auditor, tenant.Event{Package: "session",
		OwnerID: tenantID, Resource: "destroy sessions"}); err != nil {
		return err
	}
	return storeErr("delete tenant", m.store.DeleteTenant(ctx, tenantID))
}

// storeErr wraps a store failure in ErrStore, naming the operation; nil
// stays nil.
func storeErr(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w: %s: %w", ErrStore, op, err)
}

// storeUnavailable is the default error handler.
func storeUnavailable(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Retry-After", "5")
	http.Error(w, "service unavailable", http.StatusServiceUnavailable)
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
