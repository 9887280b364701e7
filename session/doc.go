// Package session runs cookie sessions bound to a tenant: a session
// records its tenant, and a cookie presented on any other tenant is
// treated as absent (and reported), so a cookie obtained on one tenant is
// worthless on every other.
//
//	m, _ := session.New(session.NewMemStore())           // or NewRedisStore(rdb, "")
//	handler := resolver.Middleware(m.Middleware(mux))     // tenant first, then session
//	s, _ := m.Login(w, r, userID, nil)                    // rotates any previous token
//	s, ok := session.FromContext(r.Context())
//
// # Security
//
// Cookies are host-only (never a Domain attribute — the source plan's
// cross-subdomain leak), Path=/, HttpOnly, SameSite=Lax, and over TLS
// Secure with the __Host- name prefix, which browsers refuse to accept
// from a sibling subdomain. A request carrying several session cookies
// (cookie tossing) is refused with 400. Tokens are 256 random bits; stores
// keep only their SHA-256. Login and Renew issue a new token (session
// fixation); sessions end after an idle timeout and an absolute lifetime;
// Logout, DestroyUser and DestroyTenant end them early. A store failure
// answers 503, never an anonymous or foreign session.
//
// # Testing
//
// Package sessiontest holds the Store conformance suite; MemStore and
// RedisStore (against a real Redis) pass it.
package session
