package jobs

import (
	"context"
	"errors"
	"fmt"

	"github.com/riverqueue/river"

	"github.com/tenantwall/tenantwall/tenant"
)

// Lister lists tenants; tenant.Store satisfies it.
type Lister interface {
	List(ctx context.Context) ([]tenant.Tenant, error)
}

// EachFunc builds the job a FanOut inserts for one tenant: its args and
// insert options. ctx carries t. Returning nil args skips t.
type EachFunc[T river.JobArgs] func(ctx context.Context, t tenant.Tenant, job *river.Job[T]) (river.JobArgs, *river.InsertOpts, error)

// FanOut is the worker of a periodic platform job (kind T) that inserts
// one tenant job per active tenant: River's periodic enqueuer knows no
// tenant, so scheduled per-tenant work starts as one platform job and
// becomes a tenant job for each tenant, each inserted from that tenant's
// context through the Envelope like any other.
//
// T's kind must be one of the Envelope's WithPlatformKinds. A run reports
// itself to the Envelope's auditor (tenant.RequirePlatformScope) before it
// lists tenants. Suspended tenants are skipped. When an insert fails the
// others still go ahead and the run returns every error joined, so River
// retries it: give the tenant job UniqueOpts (for example ByPeriod) so
// that a retry does not insert twice for the tenants that succeeded.
//
// TTx is the River client's transaction type (pgx.Tx, *sql.Tx): the
// worker inserts through river.ClientFromContext. A FanOut is safe for
// concurrent use.
type FanOut[TTx any, T river.JobArgs] struct {
	river.WorkerDefaults[T]

	env     *Envelope
	tenants Lister
	each    EachFunc[T]
}

// NewFanOut returns the worker of T. It fails when T's kind is not one
// of env's platform kinds.
func NewFanOut[TTx any, T river.JobArgs](env *Envelope, tenants Lister, each EachFunc[T]) (*FanOut[TTx, T], error) {
	if env == nil || tenants == nil || each == nil {
		return nil, fmt.Errorf("%w: NewFanOut needs an envelope, a tenant lister and a function", ErrInvalidOption)
	}
	var zero T
	if kind := zero.Kind(); !env.platform[kind] {
		return nil, fmt.Errorf("%w: fan-out kind %q is not one of the envelope's platform kinds (WithPlatformKinds)", ErrInvalidOption, kind)
	}
	return &FanOut[TTx, T]{env: env, tenants: tenants, each: each}, nil
}

// Work implements river.Worker.
func (f *FanOut[TTx, T]) Work(ctx context.Context, job *river.Job[T]) error {
	if _, err := tenant.RequirePlatformScope(ctx, f.env.auditor, tenant.Event{Package: "jobs", Resource: "fan out " + jobResource(job.JobRow)}); err != nil {
		return river.JobCancel(err)
	}
	client, err := river.ClientFromContextSafely[TTx](ctx)
	if err != nil {
		return err
	}
	all, err := f.tenants.List(ctx)
	if err != nil {
		return fmt.Errorf("jobs: fan out %s: %w", job.Kind, err)
	}
	var errs []error
	for _, t := range all {
		if !t.Active() {
			continue
		}
		// Each tenant's step runs in that tenant's scope only: the
		// fan-out's platform scope is not passed on.
		tctx := tenant.NewContext(tenant.WithoutPlatformScope(ctx), t)
		args, opts, err := f.each(tctx, t, job)
		if err == nil && args != nil {
			_, err = client.Insert(tctx, args, opts)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("jobs: fan out %s to tenant %s: %w", job.Kind, t.ID, err))
		}
	}
	return errors.Join(errs...)
}
