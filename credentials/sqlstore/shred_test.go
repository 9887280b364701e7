package sqlstore_test

import (
	"context"
	"database/sql"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gocloud.dev/secrets/localsecrets"

	"github.com/tenantwall/tenantwall/credentials"
	"github.com/tenantwall/tenantwall/credentials/sqlstore"
	"github.com/tenantwall/tenantwall/internal/testenv"
	"github.com/tenantwall/tenantwall/tenant"
	"github.com/tenantwall/tenantwall/tenant/tenanttest"
)

// TestCryptoShredding takes a copy of a tenant's credential rows, deletes
// the tenant, puts the rows back and checks they no longer open, while
// another tenant's credentials still do; with the data key cache as well,
// which held the deleted tenant's key. TestShreddingHoldsAgainstBackups
// does the same with a real backup of the whole data database.
func TestCryptoShredding(t *testing.T) {
	for _, e := range engines() {
		for _, cached := range []bool{false, true} {
			name := "on " + e.name
			opts := []credentials.Option{}
			if cached {
				name += " with the data key cache"
				opts = append(opts, credentials.WithDataKeyCache(100, time.Hour))
			}
			t.Run(name, func(t *testing.T) { testCryptoShredding(t, e, opts) })
		}
	}
}

func testCryptoShredding(t *testing.T, e engine, opts []credentials.Option) {
	ctx := context.Background()
	s, _ := newStore(t, e)
	ks := newKeyStore(t, e.open(t), e.dialect)
	key, err := localsecrets.NewRandomKey()
	require.NoError(t, err)
	keeper := localsecrets.NewKeeper(key)
	v, err := credentials.New(keeper, s, append(opts, credentials.WithDataKeys(ks))...)
	require.NoError(t, err)

	gone, kept := tenanttest.NewTenant(tenanttest.RandomSlug("gone")), tenanttest.NewTenant(tenanttest.RandomSlug("kept"))
	goneCtx, keptCtx := tenant.NewContext(ctx, gone), tenant.NewContext(ctx, kept)
	_, err = v.Set(goneCtx, "openai", "sk-gone-1")
	require.NoError(t, err)
	_, err = v.Set(goneCtx, "openai", "sk-gone-2")
	require.NoError(t, err)
	_, err = v.Set(keptCtx, "openai", "sk-kept")
	require.NoError(t, err)

	backup, err := s.Rows(ctx, gone.ID, "openai")
	require.NoError(t, err)
	require.Len(t, backup, 2)
	for _, r := range backup {
		require.True(t, strings.HasPrefix(string(r.Ciphertext), "dk1:"), "sealed under the data key")
		ct, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(string(r.Ciphertext), "dk1:"))
		require.NoError(t, err)
		_, err = keeper.Decrypt(ctx, ct)
		require.Error(t, err, "the keeper alone cannot open a row sealed under a data key")
	}

	_, err = v.DeleteTenant(goneCtx, gone.ID)
	require.ErrorIs(t, err, tenant.ErrNoTenant, "deleting needs the platform scope")

	pctx, err := tenant.WithPlatformScope(ctx, "test: delete tenant")
	require.NoError(t, err)
	d, err := v.DeleteTenant(pctx, gone.ID)
	require.NoError(t, err)
	assert.Equal(t, credentials.Deleted{Rows: 2, DataKey: true}, d)
	_, err = v.Get(goneCtx, "openai")
	assert.ErrorIs(t, err, credentials.ErrNoCredential, "the rows are gone")

	// Restore the backup: the rows come back, the key does not.
	for _, r := range backup {
		require.NoError(t, s.Put(ctx, r))
	}
	_, err = v.Get(goneCtx, "openai")
	assert.ErrorIs(t, err, credentials.ErrShredded, "a restored row cannot be opened")
	_, err = v.GetVersion(goneCtx, "openai", 1)
	assert.ErrorIs(t, err, credentials.ErrShredded)

	sec, err := v.Get(keptCtx, "openai")
	require.NoError(t, err)
	assert.Equal(t, "sk-kept", sec.Reveal(), "another tenant's credentials are untouched")

	d, err = v.DeleteTenant(pctx, gone.ID)
	require.NoError(t, err, "deleting again succeeds")
	assert.Equal(t, credentials.Deleted{Rows: 2}, d, "the restored rows go, there is no key left")
}

func newKeyStore(t *testing.T, db *sql.DB, d sqlstore.Dialect) *sqlstore.KeyStore {
	t.Helper()
	ks, err := sqlstore.NewKeyStore(db, d)
	require.NoError(t, err)
	require.NoError(t, ks.Migrate(context.Background()))
	require.NoError(t, ks.Migrate(context.Background()), "Migrate twice is fine")
	return ks
}

// backupEngine is an engine with a way to back a database up and restore
// the backup into a fresh database, as an operator would.
type backupEngine struct {
	name    string
	dialect sqlstore.Dialect
	open    func(t *testing.T) (*sql.DB, string) // a fresh database and its name for backup
	backup  func(t *testing.T, db *sql.DB, name string) (restore func(t *testing.T) *sql.DB)
}

func backupEngines() []backupEngine {
	return []backupEngine{
		{"sqlite (VACUUM INTO, file copy restored)", sqlstore.SQLite,
			func(t *testing.T) (*sql.DB, string) {
				path := filepath.Join(t.TempDir(), "data.db")
				return openSQLite(t, path), path
			},
			func(t *testing.T, db *sql.DB, _ string) func(t *testing.T) *sql.DB {
				dir := t.TempDir()
				backup := filepath.Join(dir, "backup.db")
				_, err := db.ExecContext(context.Background(), `VACUUM INTO '`+backup+`'`)
				require.NoError(t, err)
				return func(t *testing.T) *sql.DB {
					b, err := os.ReadFile(backup)
					require.NoError(t, err)
					restored := filepath.Join(dir, "restored.db")
					require.NoError(t, os.WriteFile(restored, b, 0o600))
					return openSQLite(t, restored)
				}
			}},
		{"postgres (pg_dump, psql restore into a new database)", sqlstore.Postgres,
			func(t *testing.T) (*sql.DB, string) {
				u, db := testenv.PostgresDB(t)
				return db, u
			},
			func(t *testing.T, _ *sql.DB, u string) func(t *testing.T) *sql.DB {
				for _, bin := range []string{"pg_dump", "psql"} {
					if _, err := exec.LookPath(bin); err != nil {
						testenv.Unavailable(t, bin, err)
					}
				}
				dump := filepath.Join(t.TempDir(), "data.sql")
				out, err := exec.Command("pg_dump", "--no-owner", "--no-privileges", "-f", dump, "-d", u).CombinedOutput()
				require.NoError(t, err, "pg_dump: %s", out)
				return func(t *testing.T) *sql.DB {
					u2, db2 := testenv.PostgresDB(t)
					out, err := exec.Command("psql", "-q", "-v", "ON_ERROR_STOP=1", "-f", dump, "-d", u2).CombinedOutput()
					require.NoError(t, err, "psql restore: %s", out)
					return db2
				}
			}},
	}
}

func openSQLite(t *testing.T, path string) *sql.DB {
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

// TestShreddingHoldsAgainstBackups backs up the data database holding a
// tenant's sealed credentials, deletes the tenant, restores the backup
// into a fresh database and opens it with the same master key and the
// current key store: the deleted tenant's credentials are shredded,
// another tenant's still open. With the key store inside the data
// database (what credentials/sqlstore.Store did before KeyStore) the same
// backup opens again: that case shows the backup and restore are real.
func TestShreddingHoldsAgainstBackups(t *testing.T) {
	for _, e := range backupEngines() {
		for _, apart := range []bool{true, false} {
			name := e.name + ", keys in a database of their own"
			if !apart {
				name = e.name + ", keys in the data database (the mistake)"
			}
			t.Run(name, func(t *testing.T) {
				ctx := context.Background()
				data, dataName := e.open(t)
				keysDB := data
				if apart {
					keysDB, _ = e.open(t)
				}
				s, err := sqlstore.New(data, e.dialect)
				require.NoError(t, err)
				require.NoError(t, s.Migrate(ctx))
				ks := newKeyStore(t, keysDB, e.dialect)
				key, err := localsecrets.NewRandomKey()
				require.NoError(t, err)
				keeper := localsecrets.NewKeeper(key)
				v, err := credentials.New(keeper, s, credentials.WithDataKeys(ks))
				require.NoError(t, err)

				gone, kept := tenanttest.NewTenant(tenanttest.RandomSlug("gone")), tenanttest.NewTenant(tenanttest.RandomSlug("kept"))
				goneCtx, keptCtx := tenant.NewContext(ctx, gone), tenant.NewContext(ctx, kept)
				for _, sk := range []string{"sk-gone-1", "sk-gone-2"} {
					_, err = v.Set(goneCtx, "openai", sk)
					require.NoError(t, err)
				}
				_, err = v.Set(keptCtx, "openai", "sk-kept")
				require.NoError(t, err)

				restore := e.backup(t, data, dataName)

				pctx, err := tenant.WithPlatformScope(ctx, "test: delete tenant")
				require.NoError(t, err)
				d, err := v.DeleteTenant(pctx, gone.ID)
				require.NoError(t, err)
				require.Equal(t, credentials.Deleted{Rows: 2, DataKey: true}, d)

				restored := restore(t)
				s2, err := sqlstore.New(restored, e.dialect)
				require.NoError(t, err)
				rows, err := s2.Rows(ctx, gone.ID, "openai")
				require.NoError(t, err)
				require.Len(t, rows, 2, "the backup holds the deleted tenant's sealed rows")
				// The current key store: the separate one, or, when the
				// keys were kept in the data database, the restored one.
				ks2 := ks
				if !apart {
					ks2 = newKeyStore(t, restored, e.dialect)
				}
				v2, err := credentials.New(keeper, s2, credentials.WithDataKeys(ks2))
				require.NoError(t, err)

				sec, err := v2.Get(keptCtx, "openai")
				require.NoError(t, err)
				assert.Equal(t, "sk-kept", sec.Reveal(), "another tenant's credentials open from the backup")

				sec, err = v2.Get(goneCtx, "openai")
				if !apart {
					require.NoError(t, err)
					assert.Equal(t, "sk-gone-2", sec.Reveal(), "keys in the data backup reopen a deleted tenant's credentials")
					return
				}
				assert.ErrorIs(t, err, credentials.ErrShredded, "the restored rows cannot be opened")
				_, err = v2.GetVersion(goneCtx, "openai", 1)
				assert.ErrorIs(t, err, credentials.ErrShredded)
			})
		}
	}
}
