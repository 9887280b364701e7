package jwtclaims_test

import (
	"context"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tenantwall/tenantwall/jwtclaims"
	"github.com/tenantwall/tenantwall/tenant"
	"github.com/tenantwall/tenantwall/tenant/tenanttest"
)

// plainClaims has the same fields as jwtclaims.Claims without the strict
// decoding, for the golang-jwt baseline.
type plainClaims struct {
	jwt.RegisteredClaims
	TenantID   string `json:"tenant_id"`
	TenantSlug string `json:"tenant_slug"`
	Type       string `json:"typ"`
}

// BenchmarkValidate compares Authority.Validate (kid lookup by tenant,
// strict claims, tenant and audience checks) with jwt.ParseWithClaims
// with the same key and the same registered-claim checks, and with
// Validate answering from WithVerifiedCache (a hit: the token's digest,
// the key looked up again, the time bounds and a copy of the claims).
func BenchmarkValidate(b *testing.B) {
	for name, mk := range map[string]func(string) jwtclaims.Key{"alg=EdDSA": jwtclaims.NewEdDSAKey, "alg=HS256": jwtclaims.NewHS256Key} {
		b.Run(name, func(b *testing.B) {
			keys := jwtclaims.NewKeySet()
			a := tenanttest.NewTenant("acme")
			key := mk("k1")
			if err := keys.Add(a.ID, key); err != nil {
				b.Fatal(err)
			}
			auth, _ := jwtclaims.New(keys, "https://auth.example.com", "crm")
			ctx := tenant.NewContext(context.Background(), a)
			tok, _, err := auth.Issue(ctx, "user-1")
			if err != nil {
				b.Fatal(err)
			}
			parser := jwt.NewParser(jwt.WithValidMethods([]string{key.Method.Alg()}), jwt.WithExpirationRequired(),
				jwt.WithIssuedAt(), jwt.WithIssuer("https://auth.example.com"), jwt.WithAudience("crm:"+a.ID),
				jwt.WithLeeway(30*time.Second))
			b.Run("impl=golang-jwt", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := parser.ParseWithClaims(tok, &plainClaims{}, func(*jwt.Token) (any, error) { return key.Verify, nil }); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("impl=jwtclaims", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := auth.Validate(ctx, tok, jwtclaims.Access); err != nil {
						b.Fatal(err)
					}
				}
			})
			cached, _ := jwtclaims.New(keys, "https://auth.example.com", "crm", jwtclaims.WithVerifiedCache(1024))
			b.Run("impl=jwtclaims-cachehit", func(b *testing.B) {
				if _, err := cached.Validate(ctx, tok, jwtclaims.Access); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				for b.Loop() {
					if _, err := cached.Validate(ctx, tok, jwtclaims.Access); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
