package placement

import (
	"errors"

	"github.com/tenantwall/tenantwall/tenant"
)

// Option configures New.
type Option func(*options) error

type options struct {
	auditor tenant.Auditor
}

// WithAuditor sets where Move reports itself, as platform work
// (tenant.RequirePlatformScope: an EventPlatformAccess from package
// "placement", resource "move", naming the tenant). Default:
// tenant.DefaultAuditor.
func WithAuditor(a tenant.Auditor) Option {
	return func(o *options) error {
		if a == nil {
			return errors.New("placement: New: WithAuditor(nil)")
		}
		o.auditor = a
		return nil
	}
}
