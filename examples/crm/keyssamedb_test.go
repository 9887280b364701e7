package main

import (
	"context"
	"io"
	"log/slog"
	"net/url"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/internal/testenv"
	"github.com/tenantwall/tenantwall/tenant"
)

// pgSocketDir is where Debian's PostgreSQL listens on a Unix socket.
const pgSocketDir = "/var/run/postgresql"

// TestKeysURLSameDatabaseOverSocket names the application database in
// CRM_KEYS_URL through the server's Unix socket instead of TCP. The
// server must still refuse to start: otherwise the key store's migration
// and the move of keys out of the application database meet the same
// table, and the move drops it, destroying every tenant's data key.
func TestKeysURLSameDatabaseOverSocket(t *testing.T) {
	s := newServer(t, "postgres")
	acme := setOpenAIKey(t, s.app, "sk-kept")
	u, err := url.Parse(s.app.cfg.dbAdmin)
	require.NoError(t, err)
	if h := u.Hostname(); h != "127.0.0.1" && h != "localhost" {
		t.Skipf("the test database is not on this machine (%s): no Unix socket to reach it by", h)
	}
	port := u.Port()
	if port == "" {
		port = "5432"
	}
	if _, err := os.Stat(pgSocketDir + "/.s.PGSQL." + port); err != nil {
		testenv.Unavailable(t, "a PostgreSQL Unix socket in "+pgSocketDir, err)
	}
	// The same database, reached by the socket.
	q := u.Query()
	q.Set("host", pgSocketDir)
	u.Host = ""
	u.RawQuery = q.Encode()
	t.Setenv("CRM_KEYS_URL", u.String())

	a, err := newApp(context.Background(), s.app.cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil {
		a.close()
	}
	require.ErrorContains(t, err, "CRM_KEYS_URL names the application database")
	sec, err := s.app.vault.Get(tenant.NewContext(context.Background(), acme), "openai")
	require.NoError(t, err, "the running server's credentials still open")
	assert.Equal(t, "sk-kept", sec.Reveal())
}
