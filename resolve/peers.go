package resolve

import (
	"context"
	"fmt"
	"strings"

	"github.com/tenantwall/tenantwall/tenant"
)

// Peers carries a Resolver's invalidations to the Resolvers of the other
// processes that serve the same tenants, and theirs to it, so that a
// suspension, a removed or re-pointed domain or a new tenant takes effect
// on every instance at once rather than after the cache TTL.
// *cachekey.Topic implements it over Redis (pub/sub for speed, a log
// that repairs a lost message within its refresh interval); resolve
// itself imports no Redis client.
type Peers interface {
	// Publish sends msg to every process, this one included.
	Publish(ctx context.Context, msg string) error
	// Listen sets the functions called with each message published by
	// any process (possibly more than once), and when messages may have
	// been lost.
	Listen(apply func(msg string), lost func())
}

// WithPeers shares the Resolver's invalidations with other processes
// through p (see Peers): every Invalidate call is applied here, then
// published; a message from a peer is applied like a local call; and
// when p reports that messages may have been lost, the whole cache is
// dropped. Messages are validated like any outside input: one that is not
// exactly a message this package writes drops the whole cache (it may
// come from a newer version) and is reported to the auditor. Without
// WithPeers, invalidations reach this process only, and other processes
// see a change within the cache TTL (WithCache).
func WithPeers(p Peers) Option {
	return func(o *options) error {
		if p == nil {
			return fmt.Errorf("%w: WithPeers(nil)", ErrConfig)
		}
		o.peers = p
		return nil
	}
}

// A peer message is one of:
//
//	h <host>       InvalidateHost; host in Normalize's canonical form
//	t <tenant ID>  InvalidateTenant
//	*              InvalidateAll
const (
	msgHost   = "h "
	msgTenant = "t "
	msgAll    = "*"
)

// invalidation is a parsed peer message.
type invalidation struct {
	kind byte // 'h', 't' or '*'
	arg  string
}

// parseMessage reads a peer message, accepting only the exact forms
// above: a host that Normalize leaves unchanged, a valid tenant ID.
func parseMessage(msg string) (invalidation, bool) {
	switch {
	case msg == msgAll:
		return invalidation{kind: '*'}, true
	case strings.HasPrefix(msg, msgHost):
		h := msg[len(msgHost):]
		if n, err := Normalize(h); err != nil || n != h {
			return invalidation{}, false
		}
		return invalidation{kind: 'h', arg: h}, true
	case strings.HasPrefix(msg, msgTenant):
		id := msg[len(msgTenant):]
		if tenant.ValidateID(id) != nil {
			return invalidation{}, false
		}
		return invalidation{kind: 't', arg: id}, true
	}
	return invalidation{}, false
}

func (i invalidation) String() string {
	switch i.kind {
	case 'h':
		return msgHost + i.arg
	case 't':
		return msgTenant + i.arg
	}
	return msgAll
}

// apply carries out an invalidation in this process only.
func (r *Resolver) apply(i invalidation) {
	switch i.kind {
	case 'h':
		r.cache.delete(i.arg)
	case 't':
		r.cache.deleteTenant(i.arg)
		r.cache.deleteNegative()
	default:
		r.cache.clear()
	}
}

// fromPeer applies a message received from a peer.
func (r *Resolver) fromPeer(msg string) {
	i, ok := parseMessage(msg)
	if !ok {
		r.cache.clear()
		r.auditor.Audit(context.Background(), tenant.Event{Kind: tenant.EventLookupFailure, Package: "resolve",
			Resource: "peer message", Err: fmt.Errorf("%w: malformed invalidation %.80q: whole cache dropped", ErrPeers, msg)})
		return
	}
	r.apply(i)
}

// invalidate applies i here and publishes it to the peers. The local
// change is made first and stands whatever the peers' fate.
func (r *Resolver) invalidate(i invalidation) error {
	r.apply(i)
	if r.peers == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.lookupTimeout)
	defer cancel()
	if err := r.peers.Publish(ctx, i.String()); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrPeers, i, err)
	}
	return nil
}
