package credentials

import "errors"

// Sentinel errors; test with errors.Is. A missing tenant is
// tenant.ErrNoTenant.
var (
	// ErrNoCredential reports a tenant without a credential for a provider
	// (and no enabled fallback).
	ErrNoCredential = errors.New("credentials: no credential for this tenant and provider")

	// ErrBinding reports a ciphertext that decrypts but belongs to another
	// tenant, provider or version: a row copied where it does not belong.
	ErrBinding = errors.New("credentials: ciphertext bound to another tenant or provider")

	// ErrProvider reports a provider name outside the allowed alphabet.
	ErrProvider = errors.New("credentials: invalid provider name")

	// ErrHost reports a Transport request (or a redirect it was asked to
	// follow) to a destination the provider's credential is not bound to
	// with WithHosts: another host or port, a scheme other than https, or
	// a host it does not understand. Nothing was sent.
	ErrHost = errors.New("credentials: destination not bound to this provider")

	// ErrConfig reports an invalid option or constructor argument (a
	// missing keeper or store, an unsupported SQL dialect).
	ErrConfig = errors.New("credentials: invalid configuration")

	// ErrRow reports a Row that a Store refuses to keep; the wrapping
	// error says which field is wrong.
	ErrRow = errors.New("credentials: invalid row")

	// ErrVersionExists reports a Store.Put of a (tenant, provider,
	// version) that is stored already: a concurrent Set took the
	// version. The Vault retries with the next one.
	ErrVersionExists = errors.New("credentials: credential version exists")

	// ErrShredded reports a ciphertext sealed under a tenant data key
	// that no longer exists: the tenant was deleted (Vault.DeleteTenant)
	// and its credentials cannot be opened by anyone.
	ErrShredded = errors.New("credentials: the tenant's data key was destroyed")
)
