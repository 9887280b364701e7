package jobs

import (
	"fmt"
	"time"

	"github.com/tenantwall/tenantwall/tenant"
)

// Option configures New.
type Option func(*options) error

type options struct {
	auditor   tenant.Auditor
	snooze    time.Duration
	platform  map[string]bool
	snoozeSet bool
}

// DefaultSuspendedSnooze is how long a suspended tenant's job waits before
// the envelope checks the tenant again, unless WithSuspendedSnooze says
// otherwise.
const DefaultSuspendedSnooze = 15 * time.Minute

// WithAuditor sets where refused jobs are reported: a job without a valid
// tenant and a suspended tenant's job, each as a tenant.Event from package
// "jobs". Default: tenant.DefaultAuditor.
func WithAuditor(a tenant.Auditor) Option {
	return func(o *options) error {
		if a == nil {
			return fmt.Errorf("%w: WithAuditor(nil)", ErrInvalidOption)
		}
		o.auditor = a
		return nil
	}
}

// WithSuspendedSnooze sets what happens to a job whose tenant is
// suspended when it comes up: with d > 0 it is snoozed for d (River does
// not count a snooze as an attempt, so it runs once the tenant is active
// again); with d == 0 it is cancelled (discarded for good, River state
// "cancelled", cause ErrSuspended). Default: DefaultSuspendedSnooze.
func WithSuspendedSnooze(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return fmt.Errorf("%w: WithSuspendedSnooze(%v) is negative", ErrInvalidOption, d)
		}
		o.snooze, o.snoozeSet = d, true
		return nil
	}
}

// WithPlatformKinds names the job kinds that are platform work, such as a
// FanOut's periodic job: they are inserted without a tenant (River's
// periodic enqueuer has none) and run with tenant.WithPlatformScope
// instead of a tenant. Every other kind is a tenant job. A platform kind
// inserted from a tenant's context is refused with ErrPlatformJob.
// Default: none.
func WithPlatformKinds(kinds ...string) Option {
	return func(o *options) error {
		for _, k := range kinds {
			if k == "" {
				return fmt.Errorf("%w: WithPlatformKinds with an empty kind", ErrInvalidOption)
			}
			o.platform[k] = true
		}
		return nil
	}
}
