package resolve

import "errors"

// Sentinel errors. Functions wrap them with the offending host or header.
var (
	// ErrInvalidHost reports a host that is not a valid DNS host name after
	// normalisation. It wraps tenant.ErrInvalidDomain where that check
	// failed.
	ErrInvalidHost = errors.New("resolve: invalid host")

	// ErrIPLiteral reports a host that is an IP address. Tenants are never
	// reached by address.
	ErrIPLiteral = errors.New("resolve: IP literal host")

	// ErrUnknownHost reports a valid host that belongs to no tenant (or to
	// a custom domain that is not active).
	ErrUnknownHost = errors.New("resolve: unknown host")

	// ErrSuspended reports a host whose tenant is suspended. Resolve
	// returns the tenant with it, so the caller can explain.
	ErrSuspended = errors.New("resolve: tenant suspended")

	// ErrLookup reports that the tenant store failed; the tenant could not
	// be decided. It wraps the store's error.
	ErrLookup = errors.New("resolve: tenant lookup failed")

	// ErrOrigin reports a request whose Origin header is missing, malformed
	// or resolves to another tenant than its Host.
	ErrOrigin = errors.New("resolve: origin not allowed")

	// ErrUnverified reports a domain whose DNS does not (or no longer) prove
	// that it points at the platform for this tenant.
	ErrUnverified = errors.New("resolve: domain not verified")

	// ErrConfig reports an invalid option given to New.
	ErrConfig = errors.New("resolve: invalid configuration")

	// ErrPeers reports an invalidation that was applied in this process
	// but could not be published to the other processes (WithPeers), or a
	// peer message that was not understood. Other processes then see the
	// change within the cache TTL.
	ErrPeers = errors.New("resolve: invalidation not shared with peers")

	// ErrHostNotAllowed reports a host the certificate policy refuses.
	ErrHostNotAllowed = errors.New("resolve: no certificate for this host")
)

// errForwarded is what parseForwarded reports for a malformed Forwarded
// header; the middleware wraps it in ErrInvalidHost, so it stays unexported.
var errForwarded = errors.New("malformed Forwarded header")
