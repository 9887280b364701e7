package main

import "context"

// dashCache is what the dashboard needs of its cache: a
// *cachekey.Cache[overview], on Redis or in memory. The interface lets the
// conformance test swap in a deliberately broken cache.
type dashCache interface {
	Get(ctx context.Context, parts []string, load func(context.Context) (overview, error)) (overview, error)
}
