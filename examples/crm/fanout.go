package main

import (
	"time"

	"github.com/tenantwall/tenantwall/resolve"
)

// peerRefresh is how often each instance reads the cache Keyspace's
// invalidation log (cachekey.WithRefresh): the longest a change whose
// pub/sub message was lost takes to reach it, so that the server's
// "within a second" holds with room for a round trip. It costs each
// instance three Redis commands per read, twelve a second, whatever the
// number of tenants.
const peerRefresh = 250 * time.Millisecond

// peerOptions makes the resolver share its invalidations with the other
// instances of the server when they share a Redis (-redis): a tenant
// suspended, a domain removed or re-pointed through the operator API of
// one instance is refused or re-read by every instance within a second,
// not after the resolver's cache TTL. The messages travel on the cache
// Keyspace's "resolve" Topic: pub/sub at once, and the Keyspace's
// invalidation log within peerRefresh when a message is lost.
// Without Redis there is one instance and nothing to share.
func (a *app) peerOptions() ([]resolve.Option, error) {
	if a.cfg.redis == "" {
		return nil, nil
	}
	topic, err := a.keyspace.Topic("resolve")
	if err != nil {
		return nil, err
	}
	return []resolve.Option{resolve.WithPeers(topic)}, nil
}

// spread logs an invalidation that reached this instance but not the
// others: they then see the change within the resolver's cache TTL.
func (a *app) spread(err error) {
	if err != nil {
		a.log.Warn("invalidation not shared with the other instances; they see it within the cache TTL", "err", err)
	}
}
