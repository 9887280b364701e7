// Package sessiontest is the conformance suite for session.Store
// implementations. This repository runs it against session.MemStore and
// session.RedisStore (on a real Redis, a Redis Cluster and a Ring); run it
// against your own store:
//
//	func TestStore(t *testing.T) {
//		sessiontest.RunStoreTests(t, func(t *testing.T) session.Store {
//			return mystore.New(…)
//		})
//	}
//
// The suite checks what session.Manager relies on: a record is found
// exactly as created, and a missing or expired one is not found without
// an error; Delete, DeleteUser and DeleteTenant remove only what they
// name (one user's sessions on one tenant, one tenant's sessions); Create
// refuses a hash in use (session.ErrHashInUse) and keeps its record;
// Update writes only over a live record, so a hash never created, deleted
// or expired is never revived, even by updates racing the delete; a TTL
// of zero or less never makes a lasting record; and the store is safe for
// concurrent use.
//
// Each check is a subtest named after what it proves. The store returned
// by newStore may be shared with other tests: the suite uses fresh random
// tenant IDs and token hashes.
package sessiontest
