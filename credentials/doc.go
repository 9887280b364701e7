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
// ErrNoCredential, ErrBinding, ErrProvider, ErrHost and ErrConfig; test
// with errors.Is. A missing tenant is tenant.ErrNoTenant.
package credentials
