package sqlstore_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gocloud.dev/secrets/localsecrets"
	_ "modernc.org/sqlite"

	"github.com/tenantwall/tenantwall/credentials"
	"github.com/tenantwall/tenantwall/credentials/credentialstest"
	"github.com/tenantwall/tenantwall/credentials/sqlstore"
	"github.com/tenantwall/tenantwall/internal/testenv"
	"github.com/tenantwall/tenantwall/tenant"
	"github.com/tenantwall/tenantwall/tenant/tenanttest"
)

// engine is one database the store is tested on, with the handle tests
// use to tamper with the table behind the store's back.
type engine struct {
	name    string
	dialect sqlstore.Dialect
	open    func(t *testing.T) *sql.DB
}

func engines() []engine {
	return []engine{
		{"sqlite", sqlstore.SQLite, func(t *testing.T) *sql.DB {
			// busy_timeout makes concurrent writers wait for the lock
			// instead of failing with SQLITE_BUSY.
			db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "c.db")+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
			require.NoError(t, err)
			t.Cleanup(func() { db.Close() })
			return db
		}},
		{"postgres", sqlstore.Postgres, func(t *testing.T) *sql.DB {
			_, db := testenv.PostgresDB(t)
			return db
		}},
	}
}

func newStore(t *testing.T, e engine) (*sqlstore.Store, *sql.DB) {
	t.Helper()
	db := e.open(t)
	s, err := sqlstore.New(db, e.dialect)
	require.NoError(t, err)
	require.NoError(t, s.Migrate(context.Background()))
	require.NoError(t, s.Migrate(context.Background()), "Migrate twice is fine")
	return s, db
}

func TestConformance(t *testing.T) {
	for _, e := range engines() {
		t.Run("on "+e.name, func(t *testing.T) {
			// One database for the whole suite: it writes under fresh
			// tenant IDs, and a database per subtest would cost seconds.
			s, _ := newStore(t, e)
			credentialstest.RunStoreTests(t, func(*testing.T) credentials.Store { return s })
		})
	}
}

func TestNewRefusesWhatItDoesNotSupport(t *testing.T) {
	for _, tc := range []struct {
		name string
		db   sqlstore.DB
		d    sqlstore.Dialect
	}{
		{"the zero dialect is refused", &sql.DB{}, 0},
		{"an unknown dialect is refused", &sql.DB{}, sqlstore.Dialect(3)},
		{"the largest dialect value is refused", &sql.DB{}, sqlstore.Dialect(255)},
		{"a nil handle is refused", nil, sqlstore.Postgres},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := sqlstore.New(tc.db, tc.d)
			assert.ErrorIs(t, err, credentials.ErrConfig)
			assert.Nil(t, s)
		})
	}
	assert.Equal(t, "Dialect(3)", sqlstore.Dialect(3).String())
}

// tamper runs statements on the table as someone with write access to it
// might, with ? placeholders rewritten for PostgreSQL.
func tamper(t *testing.T, db *sql.DB, d sqlstore.Dialect, query string, args ...any) {
	t.Helper()
	if d == sqlstore.Postgres {
		n := 0
		out := make([]byte, 0, len(query)+8)
		for i := 0; i < len(query); i++ {
			if query[i] == '?' {
				n++
				out = append(out, '$', byte('0'+n))
				continue
			}
			out = append(out, query[i])
		}
		query = string(out)
	}
	_, err := db.Exec(query, args...)
	require.NoError(t, err, query)
}

// TestRowsMovedInTheTableAreRefused is the attack the sealing exists
// for: someone who can write the table, but not the keeper, copies or
// swaps ciphertexts between tenants, providers and versions.
func TestRowsMovedInTheTableAreRefused(t *testing.T) {
	for _, e := range engines() {
		t.Run("on "+e.name, func(t *testing.T) {
			s, db := newStore(t, e)
			key, err := localsecrets.NewRandomKey()
			require.NoError(t, err)
			keeper := localsecrets.NewKeeper(key)
			t.Cleanup(func() { keeper.Close() })
			audit := &tenanttest.AuditRecorder{}
			v, err := credentials.New(keeper, s, credentials.WithAuditor(audit))
			require.NoError(t, err)
			a, b := tenanttest.NewTenant("acme"), tenanttest.NewTenant("globex")
			ctxA, ctxB := tenant.NewContext(context.Background(), a), tenant.NewContext(context.Background(), b)
			for _, set := range []struct {
				ctx             context.Context
				provider, value string
			}{{ctxA, "openai", "sk-acme-1"}, {ctxA, "openai", "sk-acme-2"}, {ctxB, "openai", "sk-globex"}, {ctxA, "smartflo", "sf-acme"}} {
				_, err := v.Set(set.ctx, set.provider, set.value)
				require.NoError(t, err)
			}
			const copyRow = `INSERT INTO tenantwall_credentials (owner_id, provider, version, ciphertext, created_at)
				SELECT ?, ?, ?, ciphertext, created_at FROM tenantwall_credentials WHERE owner_id = ? AND provider = ? AND version = ?`

			t.Run("a row copied to another tenant", func(t *testing.T) {
				tamper(t, db, e.dialect, copyRow, b.ID, "openai", 2, a.ID, "openai", 2)
				_, err := v.Get(ctxB, "openai")
				assert.ErrorIs(t, err, credentials.ErrBinding)
				events := audit.Events()
				require.NotEmpty(t, events)
				last := events[len(events)-1]
				assert.Equal(t, tenant.EventCrossTenant, last.Kind)
				assert.Equal(t, b.ID, last.TenantID)
				assert.Equal(t, a.ID, last.OwnerID)
			})
			t.Run("a row copied to another provider", func(t *testing.T) {
				tamper(t, db, e.dialect, copyRow, a.ID, "elevenlabs", 1, a.ID, "openai", 1)
				_, err := v.Get(ctxA, "elevenlabs")
				assert.ErrorIs(t, err, credentials.ErrBinding)
			})
			t.Run("an old version copied over as the newest", func(t *testing.T) {
				tamper(t, db, e.dialect, copyRow, a.ID, "openai", 3, a.ID, "openai", 1)
				_, err := v.Get(ctxA, "openai")
				assert.ErrorIs(t, err, credentials.ErrBinding, "a rollback to a rotated-out key")
				old, err := v.GetVersion(ctxA, "openai", 1)
				require.NoError(t, err)
				assert.Equal(t, "sk-acme-1", old.Reveal(), "the genuine row still opens")
			})
			t.Run("ciphertexts swapped between tenants", func(t *testing.T) {
				tamper(t, db, e.dialect, `UPDATE tenantwall_credentials SET ciphertext =
					(SELECT ciphertext FROM tenantwall_credentials WHERE owner_id = ? AND provider = 'smartflo' AND version = 1)
					WHERE owner_id = ? AND provider = 'smartflo' AND version = 1`, a.ID, a.ID)
				tamper(t, db, e.dialect, `UPDATE tenantwall_credentials SET ciphertext =
					(SELECT ciphertext FROM tenantwall_credentials WHERE owner_id = ? AND provider = 'smartflo' AND version = 1)
					WHERE owner_id = ? AND provider = 'openai' AND version = 1`, a.ID, b.ID)
				_, err := v.Get(ctxB, "openai")
				assert.ErrorIs(t, err, credentials.ErrBinding, "A's smartflo key in B's openai row")
			})
		})
	}
}
