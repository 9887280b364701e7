package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/resolve"
)

// downPeers is a Redis that cannot be reached: every publish fails.
type downPeers struct{}

func (downPeers) Publish(context.Context, string) error {
	return errors.New("redis: connection refused")
}
func (downPeers) Listen(func(string), func()) {}

// A lifecycle change whose invalidation reaches this instance but not the
// others is logged, as the operator API's own changes are.
func TestALifecycleInvalidationNotSharedIsLogged(t *testing.T) {
	var logs lockedBuffer
	s := startServer(t, []string{"-data", t.TempDir(), "-operator-token", "op-secret", "-bcrypt-cost", "4", "-plans="}, func(a *app) {
		a.log = slog.New(slog.NewTextHandler(&logs, nil))
		r, err := resolve.New(a.tenants, resolve.WithBaseDomain(a.cfg.baseDomain), resolve.WithPeers(downPeers{}))
		require.NoError(t, err)
		a.resolver = r
	})
	op := s.client(t, "platform.localhost")
	op.token = "op-secret"
	code, sch := op.json("POST", "/admin/api/tenants/acme/delete/", map[string]bool{"confirm": false})
	require.Equal(t, http.StatusOK, code, "%v", sch)
	assert.Contains(t, logs.String(), "invalidation not shared with the other instances")
	code, _, _ = s.client(t, "acme.localhost").do("GET", "/api/tenant-branding/", nil, "")
	assert.NotEqual(t, http.StatusOK, code, "the change holds on this instance")
}
