// Package credentialstest is the conformance suite for credentials.Store
// implementations. This repository runs it against credentials.MemStore
// and credentials/sqlstore on SQLite and PostgreSQL; run it against your
// own store:
//
//	func TestStore(t *testing.T) {
//		credentialstest.RunStoreTests(t, func(t *testing.T) credentials.Store {
//			return mystore.New(…)
//		})
//	}
//
// The suite checks what the Vault relies on: rows come back exactly as
// stored and newest first; one tenant's or provider's rows never come
// back for another, however the names are spelled; invalid tenant IDs,
// providers, versions and ciphertexts are refused and nothing is stored;
// a version is written once, and of concurrent writers of one version
// exactly one wins; and a Vault over the store rotates and survives
// concurrent Sets.
package credentialstest
