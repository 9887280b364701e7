// Package credentials keeps each tenant's API keys for outside services
// (the source plan's per-tenant ElevenLabs, Smartflo and OpenAI keys),
// encrypted at rest with gocloud.dev/secrets, and injects them into
// outgoing requests.
//
//	keeper := localsecrets.NewKeeper(key)          // or secrets.OpenKeeper(ctx, "awskms://…")
//	vault, _ := credentials.New(keeper, credentials.NewMemStore())
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
package credentials
