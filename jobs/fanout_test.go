package jobs_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/jobs"
	"github.com/tenantwall/tenantwall/tenant"
)

// tickArgs is a periodic platform job: it fans out to one probe job per
// active tenant.
type tickArgs struct{}

func (tickArgs) Kind() string { return "tenantwall_tick" }

func each(ctx context.Context, t tenant.Tenant, _ *river.Job[tickArgs]) (river.JobArgs, *river.InsertOpts, error) {
	// One tenant's step is that tenant's work: the fan-out's platform
	// scope must not reach it.
	if _, err := tenant.RequirePlatformScope(ctx, nil, tenant.Event{Package: "test", Resource: "each"}); err == nil {
		return nil, nil, errors.New("a fan-out step for tenant " + t.ID + " carries the platform scope")
	}
	return probeArgs{Want: t.ID}, &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByPeriod: time.Hour}}, nil
}

type auditLog struct {
	mu     sync.Mutex
	events []tenant.Event
}

func (a *auditLog) Audit(_ context.Context, e tenant.Event) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.events = append(a.events, e)
}

func (a *auditLog) kinds() map[tenant.EventKind]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	m := map[tenant.EventKind]int{}
	for _, e := range a.events {
		m[e.Kind]++
	}
	return m
}

func testFanOut[TTx any](t *testing.T, newBed func(*testing.T, *tenant.MemStore, configure, ...jobs.Option) *bed[TTx]) {
	ctx := context.Background()
	store := tenant.NewMemStore()
	ts := addTenants(t, store, "acme", "globex", "initech")
	initech := ts[2]
	initech.Status = tenant.StatusSuspended
	require.NoError(t, store.Update(ctx, initech))
	audit := &auditLog{}

	b := newBed(t, store, func(t *testing.T, env *jobs.Envelope, w *river.Workers, c *river.Config) {
		fan, err := jobs.NewFanOut[TTx](env, store, each)
		require.NoError(t, err)
		river.AddWorker(w, fan)
		c.PeriodicJobs = []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(time.Hour),
			func() (river.JobArgs, *river.InsertOpts) { return tickArgs{}, nil }, &river.PeriodicJobOpts{RunOnStart: true})}
	}, jobs.WithPlatformKinds(tickArgs{}.Kind()), jobs.WithAuditor(audit))

	t.Run("the periodic job enqueues one job per active tenant, run as that tenant", func(t *testing.T) {
		// The tick and two probe jobs: the suspended tenant gets none.
		evs := b.wait(t, 3)
		kinds := map[string]int{}
		for _, ev := range evs {
			assert.Equal(t, river.EventKindJobCompleted, ev.Kind, ev.Job.Kind)
			kinds[ev.Job.Kind]++
		}
		assert.Equal(t, map[string]int{"tenantwall_tick": 1, "tenantwall_probe": 2}, kinds)
		got := map[string]bool{}
		for range 2 {
			s := <-b.probes
			assert.Equal(t, s.Want, s.Got)
			got[s.Got] = true
		}
		assert.Equal(t, map[string]bool{ts[0].ID: true, ts[1].ID: true}, got)
		assert.Equal(t, 1, audit.kinds()[tenant.EventPlatformAccess], "the fan-out reports its platform-wide listing")
	})

	t.Run("a second run in the same period inserts nothing new", func(t *testing.T) {
		_, err := b.client.Insert(ctx, tickArgs{}, nil)
		require.NoError(t, err)
		ev := b.wait(t, 1)[0]
		assert.Equal(t, "tenantwall_tick", ev.Job.Kind)
		assert.Equal(t, river.EventKindJobCompleted, ev.Kind)
		list, err := b.client.JobList(ctx, river.NewJobListParams().Kinds("tenantwall_probe").States(rivertype.JobStates()...))
		require.NoError(t, err)
		assert.Len(t, list.Jobs, 2)
	})

	t.Run("a platform kind is refused from a tenant's context", func(t *testing.T) {
		_, err := b.client.Insert(tenant.NewContext(ctx, ts[0]), tickArgs{}, nil)
		assert.ErrorIs(t, err, jobs.ErrPlatformJob)
		_, err = b.client.Insert(ctx, tickArgs{}, &river.InsertOpts{Metadata: []byte(`{"` + jobs.MetadataKey + `":"` + ts[0].ID + `"}`)})
		assert.ErrorIs(t, err, jobs.ErrMetadataTenant)
	})

	t.Run("a platform job that carries a tenant is cancelled", func(t *testing.T) {
		_, err := b.raw.Insert(ctx, tickArgs{}, &river.InsertOpts{Metadata: []byte(`{"` + jobs.MetadataKey + `":"` + ts[0].ID + `"}`)})
		require.NoError(t, err)
		ev := b.wait(t, 1)[0]
		assert.Equal(t, river.EventKindJobCancelled, ev.Kind)
	})

	t.Run("a fan-out kind must be a platform kind", func(t *testing.T) {
		env, err := jobs.New(store)
		require.NoError(t, err)
		_, err = jobs.NewFanOut[TTx](env, store, each)
		assert.ErrorIs(t, err, jobs.ErrInvalidOption)
	})
}

func TestInsertRefusesMetadataNamingATenant(t *testing.T) {
	b := newSQLiteBed(t)
	acme := addTenants(t, b.store, "acme", "globex")
	ctx := tenant.NewContext(context.Background(), acme[0])
	for _, md := range []string{
		`{"` + jobs.MetadataKey + `":"` + acme[1].ID + `"}`,
		`{"a":1,"` + jobs.MetadataKey + `":"` + acme[0].ID + `"}`,
	} {
		_, err := b.client.Insert(ctx, probeArgs{}, &river.InsertOpts{Metadata: []byte(md)})
		assert.ErrorIs(t, err, jobs.ErrMetadataTenant, md)
	}
	r, err := b.client.Insert(ctx, probeArgs{Want: acme[0].ID}, &river.InsertOpts{Metadata: []byte(`{"trace":"t1"}`)})
	require.NoError(t, err)
	assert.Equal(t, river.EventKindJobCompleted, b.wait(t, 1)[0].Kind)
	assert.Equal(t, acme[0].ID, (<-b.probes).Got)
	j, err := b.client.JobGet(context.Background(), r.Job.ID)
	require.NoError(t, err)
	assert.Contains(t, string(j.Metadata), `"trace"`)
}
