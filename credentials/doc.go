// Package credentials keeps each tenant's API keys for outside services
// (the source plan's per-tenant ElevenLabs, Smartflo and OpenAI keys),
// encrypted at rest with gocloud.dev/secrets, and injects them into
// outgoing requests.
//
//	keeper := localsecrets.NewKeeper(key)          // or secrets.OpenKeeper(ctx, "awskms://…")
//	vault, _ := credentials.New(keeper, credentials.NewMemStore(),
//		credentials.WithHosts("openai", "api.openai.com")) // where its key may go
//	_, _ = vault.Set(ctx, "openai", "sk-…")        // ctx carries the tenant
//	client := &http.Client{Transport: &credentials.Transport{Vault: vault, Provider: "openai"}}
//
// # Stores
//
// The Vault keeps its sealed rows in a Store: MemStore in memory, or
// credentials/sqlstore in a table on PostgreSQL or SQLite
// (sqlstore.New(db, sqlstore.Postgres)). A Store refuses rows a Vault
// could not have written (Row.Validate), never answers one tenant's or
// provider's lookup with another's rows, and writes each version once:
// of concurrent Puts of one version exactly one wins, the others get
// ErrVersionExists, and Vault.Set retries them with the next version.
// credentials/credentialstest is the conformance suite every store in
// this repository passes; run it against your own.
//
// # Crypto-shredding
//
// With WithDataKeys(ks) each tenant's credentials are sealed under a data
// key of its own, kept wrapped by the keeper in the DataKeyStore ks, and
// Vault.DeleteTenant destroys that key: no copy of the tenant's
// ciphertext opens afterwards (ErrShredded). Put ks in a database apart
// from the Store's, out of the data backups, with a short retention of
// its own backups (credentials/sqlstore.KeyStore on a database or SQLite
// file of its own): only then does a backup of the data, taken before the
// delete and restored later, stay unreadable for the deleted tenant.
// SECURITY.md states the rule exactly.
//
// Every read of a credential then queries ks for the tenant's wrapped key
// and unwraps it with the keeper (a KMS call, with a KMS keeper).
// WithDataKeyCache(size, ttl), off by default, keeps unwrapped keys in the
// process instead, per tenant, bounded, for ttl. The price: another
// process sharing ks that cached a tenant's key still opens that tenant's
// ciphertext for up to ttl after a Vault.DeleteTenant elsewhere, so the
// shred is complete everywhere ttl after the delete. In the deleting
// process nothing opens from DeleteTenant's return on, and Set never
// seals under a cached key. WithDataKeyCache states the rest.
//
// # Security
//
// The tenant, provider and version are sealed inside every ciphertext and
// checked on decryption: a row copied to another tenant fails with
// ErrBinding (and is audited). Lookups take the tenant from the context;
// falling back to a platform-wide key happens only for providers given
// WithFallback, and each fallback is audited — by default a missing
// tenant key is ErrNoCredential, never the platform's key. Secret values
// print as [REDACTED] with every fmt verb and in JSON; Transport never puts
// them in errors. Rotation adds versions: the newest is used, older ones
// still decrypt.
//
// A provider's credential is bound to the hosts of its API, registered
// with WithHosts. Transport adds it only to https requests whose host and
// port are exactly one of them (compared in lowercase; no trailing dot,
// subdomain, parent, other port, userinfo, non-ASCII spelling or Host
// header override), and refuses anything else with ErrHost before
// sending it. http.Client follows a redirect by calling the transport
// again, so a redirect to another host, port or to plain http fails with
// ErrHost rather than carrying the key. There is no plain-http exception,
// not even for loopback: tests use httptest.NewTLSServer.
//
// # Errors
//
// ErrNoCredential, ErrBinding, ErrProvider, ErrHost, ErrConfig, ErrRow,
// ErrVersionExists and ErrShredded; test with errors.Is. A missing tenant is
// tenant.ErrNoTenant; a store asked for an invalid tenant ID answers
// tenant.ErrInvalidID.
//
// # Testing
//
// credentialstest.RunStoreTests checks a Store. The Vault needs no
// service: MemStore and a localsecrets keeper run it in memory, as the
// Example shows.
package credentials
