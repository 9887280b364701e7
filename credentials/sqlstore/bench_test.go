package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"gocloud.dev/secrets/localsecrets"

	"github.com/tenantwall/tenantwall/credentials"
	"github.com/tenantwall/tenantwall/credentials/sqlstore"
	"github.com/tenantwall/tenantwall/internal/testenv"
	"github.com/tenantwall/tenantwall/tenant"
	"github.com/tenantwall/tenantwall/tenant/tenanttest"
)

// BenchmarkVaultGet reads a tenant's credential from PostgreSQL, the rows
// and the data keys each in a database of its own: sealed by the keeper
// alone (keys=keeper), under the tenant's data key read from the key
// store on every use (keys=data), and with the data key cached
// (keys=data-cached).
func BenchmarkVaultGet(b *testing.B) {
	ctx := context.Background()
	_, data := testenv.PostgresDB(b)
	_, keysDB := testenv.PostgresDB(b)
	store, err := sqlstore.New(data, sqlstore.Postgres)
	if err != nil {
		b.Fatal(err)
	}
	keys, err := sqlstore.NewKeyStore(keysDB, sqlstore.Postgres)
	if err != nil {
		b.Fatal(err)
	}
	if err := store.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	if err := keys.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	key, err := localsecrets.NewRandomKey()
	if err != nil {
		b.Fatal(err)
	}
	keeper := localsecrets.NewKeeper(key)
	b.Cleanup(func() { keeper.Close() })
	for _, c := range []struct {
		name string
		opts []credentials.Option
	}{
		{"keeper", nil},
		{"data", []credentials.Option{credentials.WithDataKeys(keys)}},
		{"data-cached", []credentials.Option{credentials.WithDataKeys(keys), credentials.WithDataKeyCache(10_000, time.Minute)}},
	} {
		b.Run("keys="+c.name, func(b *testing.B) {
			v, err := credentials.New(keeper, store, c.opts...)
			if err != nil {
				b.Fatal(err)
			}
			tctx := tenant.NewContext(ctx, tenanttest.NewTenant(tenanttest.RandomSlug("bench")))
			if _, err := v.Set(tctx, "openai", "sk-bench-0123456789abcdef"); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Get(tctx, "openai"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
