package jobs_test

import (
	"context"
	"errors"
	"testing"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/jobs"
	"github.com/tenantwall/tenantwall/tenant"
)

// lookupFunc is a tenant.Lookup whose ByID the test decides.
type lookupFunc func(ctx context.Context, id string) (tenant.Tenant, error)

func (f lookupFunc) ByID(ctx context.Context, id string) (tenant.Tenant, error) { return f(ctx, id) }
func (f lookupFunc) BySlug(context.Context, string) (tenant.Tenant, error) {
	return tenant.Tenant{}, tenant.ErrNotFound
}
func (f lookupFunc) ByDomain(context.Context, string) (tenant.Tenant, tenant.Domain, error) {
	return tenant.Tenant{}, tenant.Domain{}, tenant.ErrNotFound
}

// TestWorkRefusals calls the envelope's work side directly, without River
// or a database, for every way it refuses a job: the job's own work must
// never be called, and the error must be the one River acts on.
func TestWorkRefusals(t *testing.T) {
	ctx := context.Background()
	active := tenant.Tenant{ID: tenant.NewID(), Slug: "acme", Name: "Acme", Status: tenant.StatusActive}
	suspended := tenant.Tenant{ID: tenant.NewID(), Slug: "paused", Name: "Paused", Status: tenant.StatusSuspended}
	boom := errors.New("store down")
	store := lookupFunc(func(_ context.Context, id string) (tenant.Tenant, error) {
		switch id {
		case active.ID:
			return active, nil
		case suspended.ID:
			return suspended, nil
		case "ffffffff-ffff-4fff-bfff-ffffffffffff":
			return tenant.Tenant{}, boom
		case "eeeeeeee-eeee-4eee-beee-eeeeeeeeeeee":
			return active, nil // another tenant than asked for
		}
		return tenant.Tenant{}, tenant.ErrNotFound
	})
	md := func(id string) []byte { return []byte(`{"` + jobs.MetadataKey + `":"` + id + `"}`) }

	var cancel *river.JobCancelError
	var snooze *river.JobSnoozeError
	cases := []struct {
		name   string
		ctx    context.Context
		md     []byte
		opts   []jobs.Option
		check  func(t *testing.T, err error)
		report tenant.EventKind
	}{
		{"no tenant is cancelled", ctx, []byte(`{}`), nil, func(t *testing.T, err error) {
			assert.ErrorAs(t, err, &cancel)
			assert.ErrorIs(t, err, jobs.ErrNoJobTenant)
		}, tenant.EventLookupFailure},
		{"a deleted tenant is cancelled", ctx, md(tenant.NewID()), nil, func(t *testing.T, err error) {
			assert.ErrorAs(t, err, &cancel)
			assert.ErrorIs(t, err, tenant.ErrNotFound)
		}, ""},
		{"a suspended tenant is snoozed", ctx, md(suspended.ID), nil, func(t *testing.T, err error) {
			require.ErrorAs(t, err, &snooze)
			assert.Equal(t, jobs.DefaultSuspendedSnooze, snooze.Duration)
		}, tenant.EventSuspended},
		{"a suspended tenant is cancelled when snoozing is off", ctx, md(suspended.ID), []jobs.Option{jobs.WithSuspendedSnooze(0)}, func(t *testing.T, err error) {
			assert.ErrorAs(t, err, &cancel)
			assert.ErrorIs(t, err, jobs.ErrSuspended)
		}, tenant.EventSuspended},
		{"a store failure fails the attempt, to be retried", ctx, md("ffffffff-ffff-4fff-bfff-ffffffffffff"), nil, func(t *testing.T, err error) {
			assert.ErrorIs(t, err, boom)
			assert.False(t, errors.As(err, &cancel), "cancelled")
			assert.False(t, errors.As(err, &snooze), "snoozed")
		}, tenant.EventLookupFailure},
		{"a store answering another tenant fails the attempt", ctx, md("eeeeeeee-eeee-4eee-beee-eeeeeeeeeeee"), nil, func(t *testing.T, err error) {
			assert.Error(t, err)
		}, ""},
		{"a context that already carries a tenant is cancelled", tenant.NewContext(ctx, active), md(active.ID), nil, func(t *testing.T, err error) {
			assert.ErrorAs(t, err, &cancel)
		}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			audit := &auditLog{}
			env, err := jobs.New(store, append([]jobs.Option{jobs.WithAuditor(audit)}, c.opts...)...)
			require.NoError(t, err)
			err = env.Work(c.ctx, &rivertype.JobRow{ID: 1, Kind: "k", Metadata: c.md}, func(context.Context) error {
				t.Fatal("the job's work ran")
				return nil
			})
			c.check(t, err)
			want := map[tenant.EventKind]int{}
			if c.report != "" {
				want[c.report] = 1
			}
			assert.Equal(t, want, audit.kinds())
		})
	}

	t.Run("an active tenant's job runs with the tenant in its context", func(t *testing.T) {
		env, err := jobs.New(store)
		require.NoError(t, err)
		ran := false
		require.NoError(t, env.Work(ctx, &rivertype.JobRow{ID: 1, Kind: "k", Metadata: md(active.ID)}, func(ctx context.Context) error {
			got, ok := tenant.FromContext(ctx)
			assert.True(t, ok)
			assert.Equal(t, active, got)
			ran = true
			return nil
		}))
		assert.True(t, ran)
	})

	t.Run("a tenant's job never carries the platform scope its worker was started under", func(t *testing.T) {
		env, err := jobs.New(store)
		require.NoError(t, err)
		started, err := tenant.WithPlatformScope(ctx, "the service's workers")
		require.NoError(t, err)
		ran := false
		require.NoError(t, env.Work(started, &rivertype.JobRow{ID: 1, Kind: "k", Metadata: md(active.ID)}, func(ctx context.Context) error {
			_, err := tenant.RequirePlatformScope(ctx, nil, tenant.Event{Package: "test", Resource: "r"})
			assert.ErrorIs(t, err, tenant.ErrNoTenant, "a tenant's job passed the platform check")
			ran = true
			return nil
		}))
		assert.True(t, ran)
	})

	t.Run("a platform job runs with the platform scope and no tenant", func(t *testing.T) {
		audit := &auditLog{}
		env, err := jobs.New(store, jobs.WithPlatformKinds("p"), jobs.WithAuditor(audit))
		require.NoError(t, err)
		require.NoError(t, env.Work(ctx, &rivertype.JobRow{ID: 1, Kind: "p", Metadata: []byte(`{}`)}, func(ctx context.Context) error {
			_, err := tenant.IDFromContext(ctx)
			assert.ErrorIs(t, err, tenant.ErrNoTenant)
			_, err = tenant.RequirePlatformScope(ctx, audit, tenant.Event{Package: "test", Resource: "r"})
			return err
		}))
		err = env.Work(ctx, &rivertype.JobRow{ID: 2, Kind: "p", Metadata: md(active.ID)}, func(context.Context) error {
			t.Fatal("a platform job carrying a tenant ran")
			return nil
		})
		assert.ErrorIs(t, err, jobs.ErrPlatformJob)
	})
}
