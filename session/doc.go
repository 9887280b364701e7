// Package session runs cookie sessions bound to a tenant: a session
// records its tenant, and a cookie presented on any other tenant is
// treated as absent (and reported), so a cookie obtained on one tenant is
// worthless on every other.
//
//	m, _ := session.New(session.NewMemStore(),            // or NewRedisStore(rdb, "")
//		session.WithTrustedOrigins("https://app.example.com")) // optional
//	handler := resolver.Middleware(m.Middleware(mux))     // tenant first, then session
//	s, _ := m.Login(w, r, userID, nil)                    // rotates any previous token
//	_ = m.Set(r, "theme", "dark")                         // saved under the new token
//	s, ok := session.FromContext(r.Context())
//
// # Security
//
// Cookies are host-only (never a Domain attribute — the source plan's
// cross-subdomain leak), Path=/, HttpOnly, SameSite=Lax, and over TLS
// Secure with the __Host- name prefix, which browsers refuse to accept
// from a sibling subdomain. A request carrying several session cookies
// (cookie tossing) is refused with 400, and the refusal deletes the name on
// the host, its parent domains and the request path's ancestors, so that a
// planted cookie does not lock the person out. Tokens are 256 random bits; stores
// keep only their SHA-256. Sessions end after an idle timeout and an
// absolute lifetime; Logout, DestroyUser and DestroyTenant end them early.
// DestroyTenant is platform work: ctx must carry tenant.WithPlatformScope's
// reason (checked and audited by tenant.RequirePlatformScope).
// A session created while DestroyUser or DestroyTenant runs (a login
// racing it) may outlive that call, but stays in the store's index, so the
// next call ends it.
// A store failure answers 503 with Retry-After (WithErrorHandler), never
// an anonymous or foreign session, and the cookie is left alone: when the
// store's data survives a brief outage, the session works again once the
// store is back.
//
// Rotation is total. Login and Renew delete the old token and issue a new
// one (session fixation), and the request's session moves with them:
// FromContext returns the new session and Set writes under the new token
// only. Every write goes through the request's session state, and stores
// write only through Create (a fresh hash, never one in use) and Update
// (only over a live record, atomically), so no write — of this request, or
// of a concurrent request still holding the old token, including the idle
// window's extension — can bring a deleted token back. Set on a session
// that ended (logged out, rotated or destroyed meanwhile) returns
// ErrNoSession and writes nothing.
//
// Cross-origin requests. Tenant subdomains of one base domain are
// same-site to each other, so SameSite=Lax cookies ride along on simple
// requests that a page on a sibling tenant sends. Middleware therefore
// applies net/http.CrossOriginProtection to every request with an unsafe
// method (all but GET, HEAD and OPTIONS), before any cookie is read:
// Sec-Fetch-Site must be same-origin or none, or, from browsers that do not
// send it, Origin must match Host; requests with neither header (not from a
// browser) pass, as do origins given to WithTrustedOrigins. A refused
// request is answered by the deny handler (403 by default, see
// WithDenyHandler) and reported to the auditor; a login is refused the
// same way (login CSRF). A request that carries an Authorization: Bearer
// header is not refused — no page of another origin can make a browser
// send one without a CORS preflight — but its cookie is then ignored: it
// authenticates nothing and Login does not delete it. Safe methods must not
// change state. Behind a proxy that rewrites Host, browsers that send
// Sec-Fetch-Site (all current ones) are judged by it alone.
//
// # Errors
//
// ErrNoSession (Renew or Set without a live session), ErrCookieTossing,
// ErrHashInUse (Store.Create over a live record), ErrStore (the store
// failed: Login, Logout, Renew, Set and the Destroy methods wrap the
// store's error in it; answer it 503) and ErrConfig (a bad option, or a
// Redis client of a type RedisStore.DeleteTenant cannot know the nodes
// of) are sentinels; test them with errors.Is.
//
// # Testing
//
// Package sessiontest holds the Store conformance suite, including the
// cases that a deleted or expired record is never revived by Update, even
// racing the delete; MemStore and RedisStore (against a real Redis, a
// three-primary Redis Cluster and a three-shard Ring) pass it.
package session
