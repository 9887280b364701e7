// Package ratelimittest is the conformance suite for ratelimit.Store
// implementations. This repository runs it against ratelimit.MemoryStore
// and ratelimit.RedisStore (on a real Redis); run it against your own:
//
//	func TestStore(t *testing.T) {
//		ratelimittest.RunStoreTests(t, func(t *testing.T) ratelimit.Store {
//			return mystore.New(…)
//		})
//	}
//
// The suite checks the GCRA decisions ratelimit.Limiter relies on: a
// burst is allowed and the next event refused with a RetryAfter within
// one emission interval; refused events are not counted; an event is
// allowed again after RetryAfter; a cost n spends n events and a cost over
// the burst is never allowed; keys do not share state; 100 concurrent
// callers never take more than the burst; and limits or costs that are
// not positive are refused with ratelimit.ErrInvalidLimit.
//
// Each check is a subtest named after what it proves. Keys are random, so
// the store may be shared with other tests; on Redis they expire within
// minutes. Two checks wait for a refill (about half a second).
package ratelimittest
