package main

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/tenant"
)

// The dashboard's counts are one load shared by concurrent requests,
// which runs with the first request's context. Once that request has
// ended, its unit of work has too: the load must not run in it, or every
// request waiting for it is answered 500 (seen in the fault suite while
// PostgreSQL stalled: "the unit of work has ended").
func TestTheSharedDashboardLoadOutlivesTheRequestThatStartedIt(t *testing.T) {
	modes(t, func(t *testing.T, s *server) {
		acme, err := s.app.tenants.BySlug(context.Background(), "acme")
		require.NoError(t, err)
		var ended context.Context
		require.NoError(t, s.app.data.units.Run(tenant.NewContext(context.Background(), acme), func(ctx context.Context) error {
			ended = ctx
			return nil
		}))
		o, err := s.app.overview(ended, 1, "all")
		require.NoError(t, err, "the load ran in the ended request's unit")
		assert.Positive(t, o.Leads)
	})
}
