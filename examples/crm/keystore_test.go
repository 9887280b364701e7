package main

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/internal/testenv"
	"github.com/tenantwall/tenantwall/tenant"
)

// keysTable reports whether db has the data keys table.
func keysTable(t *testing.T, db *sql.DB, postgres bool) bool {
	t.Helper()
	q := `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'tenantwall_credential_keys'`
	if postgres {
		q = `SELECT count(*) FROM pg_tables WHERE tablename = 'tenantwall_credential_keys'`
	}
	var n int
	require.NoError(t, db.QueryRow(q).Scan(&n))
	return n > 0
}

func setOpenAIKey(t *testing.T, a *app, secret string) tenant.Tenant {
	t.Helper()
	acme, err := a.tenants.BySlug(context.Background(), "acme")
	require.NoError(t, err)
	_, err = a.vault.Set(tenant.NewContext(context.Background(), acme), "openai", secret)
	require.NoError(t, err)
	return acme
}

// TestDataKeysApartFromTheDatabase checks that the tenants' data keys are
// kept out of the application database, in both modes: in
// <data>/keys/credential-keys.db by default, in CRM_KEYS_URL's database
// when set, and never in the application database itself.
func TestDataKeysApartFromTheDatabase(t *testing.T) {
	for _, mode := range []string{"sqlite", "postgres"} {
		t.Run(mode, func(t *testing.T) {
			s := newServer(t, mode)
			setOpenAIKey(t, s.app, "sk-apart")
			assert.False(t, keysTable(t, s.app.data.admin, mode == "postgres"), "no data key in the application database")
			keys, err := sql.Open("sqlite", filepath.Join(s.app.cfg.dataDir, "keys", "credential-keys.db"))
			require.NoError(t, err)
			defer keys.Close()
			var n int
			require.NoError(t, keys.QueryRow(`SELECT count(*) FROM tenantwall_credential_keys`).Scan(&n))
			assert.Equal(t, 1, n, "acme's data key is in the key file")
		})
	}
	t.Run("postgres with CRM_KEYS_URL", func(t *testing.T) {
		keysURL, keys := testenv.PostgresDB(t)
		t.Setenv("CRM_KEYS_URL", keysURL)
		s := newServer(t, "postgres")
		setOpenAIKey(t, s.app, "sk-apart")
		var n int
		require.NoError(t, keys.QueryRow(`SELECT count(*) FROM tenantwall_credential_keys`).Scan(&n))
		assert.Equal(t, 1, n, "acme's data key is in CRM_KEYS_URL's database")
		_, err := os.Stat(filepath.Join(s.app.cfg.dataDir, "keys"))
		assert.True(t, os.IsNotExist(err), "no key file")
		assert.False(t, keysTable(t, s.app.data.admin, true))

		t.Setenv("CRM_KEYS_URL", s.app.cfg.dbAdmin)
		_, err = newApp(context.Background(), s.app.cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
		require.ErrorContains(t, err, "CRM_KEYS_URL names the application database")
		t.Setenv("CRM_KEYS_URL", "mysql://x")
		_, err = newApp(context.Background(), s.app.cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
		require.ErrorContains(t, err, "want a postgres:// URL")
	})
}

// TestDataKeysMovedOutOfTheDatabase starts on a data directory whose
// database holds the keys table an earlier version made: the keys move
// to the key file, the table is dropped and the credentials still open.
func TestDataKeysMovedOutOfTheDatabase(t *testing.T) {
	dir := t.TempDir()
	args := []string{"-data", dir, "-operator-token", "op-secret", "-bcrypt-cost", "4", "-plans="}
	s := startServer(t, args)
	acme := setOpenAIKey(t, s.app, "sk-moved")
	// Put the data key back where the earlier version kept it.
	keyFile := filepath.Join(dir, "keys", "credential-keys.db")
	keys, err := sql.Open("sqlite", keyFile)
	require.NoError(t, err)
	var wrapped string
	var created int64
	require.NoError(t, keys.QueryRow(`SELECT wrapped, created_at FROM tenantwall_credential_keys WHERE owner_id = ?`, acme.ID).Scan(&wrapped, &created))
	_, err = keys.Exec(`DELETE FROM tenantwall_credential_keys`)
	require.NoError(t, err)
	require.NoError(t, keys.Close())
	_, err = s.app.data.admin.Exec(`CREATE TABLE tenantwall_credential_keys (owner_id text PRIMARY KEY, wrapped text NOT NULL, created_at bigint NOT NULL)`)
	require.NoError(t, err)
	_, err = s.app.data.admin.Exec(`INSERT INTO tenantwall_credential_keys VALUES (?, ?, ?)`, acme.ID, wrapped, created)
	require.NoError(t, err)
	s.Close()
	s.app.close()

	s = startServer(t, args)
	assert.False(t, keysTable(t, s.app.data.admin, false), "the old table is dropped")
	sec, err := s.app.vault.Get(tenant.NewContext(context.Background(), acme), "openai")
	require.NoError(t, err)
	assert.Equal(t, "sk-moved", sec.Reveal())

	// Deleting the tenant's credentials overwrites its key in the file
	// (secure_delete), not only unlinks the row.
	b, err := os.ReadFile(keyFile)
	require.NoError(t, err)
	require.Contains(t, string(b), wrapped, "the key is in the file before the delete")
	pctx, err := tenant.WithPlatformScope(context.Background(), "test: delete tenant")
	require.NoError(t, err)
	_, err = s.app.vault.DeleteTenant(pctx, acme.ID)
	require.NoError(t, err)
	b, err = os.ReadFile(keyFile)
	require.NoError(t, err)
	assert.NotContains(t, string(b), wrapped, "the destroyed key's bytes are gone from the file")
}
