// Package resolve maps each HTTP request to its tenant, from the host the
// request is addressed to, and puts the tenant in the request context.
//
// A Resolver tries its strategies in order: CustomDomain (the whole host is
// an active custom domain in the tenant.Store), Subdomain (exactly one label
// under the base domain is a tenant slug) and, for trusted internal callers
// only, Header. Answers are cached in memory: bounded, with a TTL, negative
// caching of unknown hosts, and one store lookup for any number of
// concurrent requests for the same cold host.
//
// # Security
//
// Every host goes through Normalize before any comparison: port removed,
// lowercased, one trailing dot dropped, IDNA-mapped to ASCII (so full-width
// and other Unicode look-alikes reach the same name a browser would) and
// checked as a DNS name; IP literals are refused. net/http does not
// validate the Host header for us.
//
// Subdomains match exactly one label under the base domain: with base
// "app.example.com", "acme.app.example.com" is tenant "acme", while
// "a.acme.app.example.com", "app.example.com.evil.com" and
// "evilapp.example.com" match nothing, and reserved slugs (www, admin, …)
// never resolve. Custom-domain records never apply under the base domain,
// so they cannot capture a tenant's subdomain. Only active domains serve.
//
// X-Forwarded-Host and Forwarded host= are read only from peers inside
// WithTrustedProxies, and then only the last value (the one the nearest
// proxy wrote). A proxy writes one of the two and may pass the other
// through from the client, so when both name a host they must agree; a
// forwarding header that cannot be read is refused, never skipped in
// favour of the next source (ErrInvalidHost, a 404).
//
// The middleware fails closed: an unknown host gets 404 with the same body
// whatever the reason, a suspended tenant 403, a store failure 503 — never
// a default tenant. The tenant is decided per request, not per connection.
// Failures are reported to the tenant.Auditor.
//
// CheckOrigin accepts a WebSocket upgrade only when the Origin resolves to
// the same tenant as the request.
//
// A request arriving after an Invalidate call never receives the answer
// of a store lookup that began before it, so a suspension or a removed
// domain takes effect for every later request at once.
//
// # Several instances
//
// Without WithPeers, an Invalidate call reaches this process only: other
// instances serve a suspended tenant or a removed domain until their
// cached answer's TTL has passed (a minute by default). WithPeers takes a
// Peers, which carries each invalidation to every instance;
// *cachekey.Topic is one, over the Redis the instances share (resolve
// imports no Redis client: the transport lives with cachekey, the package
// that already spreads generation bumps). A message reaches the others at
// once by pub/sub, or, if pub/sub lost it, from cachekey's invalidation
// log within its refresh interval (one second by default); an instance
// that cannot know what it missed (it started, fell behind, Redis lost
// data) drops its whole cache. The TTL stays the last resort, when Redis
// cannot be reached at all: Invalidate then returns an error wrapping
// ErrPeers, having made the change in this process. Peer messages are
// parsed by allow-list (a canonical host, a tenant ID, or "everything");
// anything else drops the whole cache and is audited (fuzzed).
//
// Without an Invalidate call, a cached answer is used until exactly its
// TTL (WithCache) has passed, measured on the monotonic clock: a step of
// the wall clock neither stretches nor cuts it. Whether a cached tenant may
// be served is decided when the answer is stored (a cached tenant is never
// modified), so a hit costs no re-check and a suspended tenant's answer
// refuses on every hit. A hit looks the host up as the client sent it
// (less a valid port) before normalising it; only a host already in the
// canonical form can equal a cached key, so no check is skipped.
//
// A Verifier proves custom domains by a TXT token or a CNAME to
// CNAMETarget, both bound to (tenant, host): what one tenant publishes, or
// a CNAME to the platform as such, proves nothing for another. CertPolicy
// admits only active tenant hosts, and Resolver.CertPolicy refuses an
// invalid WithCertRate (ErrConfig) rather than admit without limit. For
// TLS terminated in the process, CertPolicy.GetCertificate serves a
// certificate only for a host served now, and CertPolicy.OrderGuard lets
// no ACME order out — renewals included — for any other name.
//
// # Errors
//
// ErrInvalidHost, ErrIPLiteral, ErrUnknownHost, ErrSuspended, ErrLookup,
// ErrOrigin, ErrUnverified, ErrHostNotAllowed, ErrPeers and ErrConfig,
// wrapped with the offending host; test with
// errors.Is. In a custom refusal handler, ErrorFromContext says why.
//
// # Testing
//
// The tests run the middleware end to end over HTTP/1.1 and HTTP/2, fuzz
// Normalize and the Forwarded header parser, and benchmark a cache hit
// with 10,000 tenants and 100,000 domains (see BENCHMARKS.md).
package resolve
