package jobs_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/jobs"
	"github.com/tenantwall/tenantwall/tenant"
)

// The envelope's behaviour, run against each engine by its own Test
// function (SQLite here, PostgreSQL in postgres_test.go).

// testInterleavedIsolation inserts jobs of several tenants interleaved,
// each in the transaction that writes the tenant's data, and works them on
// one client with four workers: every job must see its own tenant in its
// context and exactly its own tenant's rows, and nothing of another job.
func testInterleavedIsolation[TTx any](t *testing.T, b *bed[TTx]) {
	ctx := context.Background()
	tenants := addTenants(t, b.store, "acme", "globex", "initech", "umbrella")
	want := map[string][]string{}
	for _, tt := range tenants {
		tctx := tenant.NewContext(ctx, tt)
		for i := range 3 {
			body := fmt.Sprintf("%s-%d", tt.Slug, i)
			require.NoError(t, b.tx(tctx, func(tx TTx) error { return b.addNote(tctx, tx, body) }))
			want[tt.ID] = append(want[tt.ID], body)
		}
	}
	const rounds = 10
	for i := range rounds {
		for _, tt := range tenants {
			tctx := tenant.NewContext(ctx, tt)
			require.NoError(t, b.tx(tctx, func(tx TTx) error {
				_, err := b.client.InsertTx(tctx, tx, probeArgs{Want: tt.ID, N: i}, nil)
				return err
			}))
		}
	}
	n := rounds * len(tenants)
	for _, ev := range b.wait(t, n) {
		assert.Equal(t, river.EventKindJobCompleted, ev.Kind, "job %d", ev.Job.ID)
	}
	perTenant := map[string]int{}
	for range n {
		s := <-b.probes
		require.NoError(t, s.Err, "job %d", s.JobID)
		assert.Equal(t, s.Want, s.Got, "job %d ran with another tenant than it was inserted for", s.JobID)
		assert.Equal(t, want[s.Want], s.Rows, "job %d of %s saw other rows than its tenant's", s.JobID, s.Want)
		assert.Empty(t, s.Leftover, "job %d found a tenant setting outside its transaction", s.JobID)
		perTenant[s.Got]++
	}
	for _, tt := range tenants {
		assert.Equal(t, rounds, perTenant[tt.ID], "jobs run for %s", tt.Slug)
	}
}

// testInsertWithoutTenant: no tenant in the inserting context, nothing
// inserted, and the transaction with the data rolls back with it.
func testInsertWithoutTenant[TTx any](t *testing.T, b *bed[TTx]) {
	ctx := context.Background()
	_, err := b.client.Insert(ctx, probeArgs{}, nil)
	assert.ErrorIs(t, err, tenant.ErrNoTenant)

	_, err = b.client.InsertMany(ctx, []river.InsertManyParams{{Args: probeArgs{}}, {Args: probeArgs{N: 1}}})
	assert.ErrorIs(t, err, tenant.ErrNoTenant)

	// A platform context is not a tenant.
	pctx, err := tenant.WithPlatformScope(ctx, "test")
	require.NoError(t, err)
	_, err = b.client.Insert(pctx, probeArgs{}, nil)
	assert.ErrorIs(t, err, tenant.ErrNoTenant)

	jobsNow, err := b.client.JobList(ctx, river.NewJobListParams())
	require.NoError(t, err)
	assert.Empty(t, jobsNow.Jobs, "a job without a tenant was inserted")
}

// testJobExistsOnlyWithItsData: the job is inserted in the transaction of
// the tenant's data; a rollback removes both, a commit keeps both.
func testJobExistsOnlyWithItsData[TTx any](t *testing.T, b *bed[TTx]) {
	ctx := context.Background()
	acme := addTenants(t, b.store, "acme")[0]
	actx := tenant.NewContext(ctx, acme)
	boom := errors.New("boom")
	err := b.tx(actx, func(tx TTx) error {
		require.NoError(t, b.addNote(actx, tx, "rolled back"))
		_, err := b.client.InsertTx(actx, tx, probeArgs{Want: acme.ID}, nil)
		require.NoError(t, err)
		return boom
	})
	require.ErrorIs(t, err, boom)
	assert.Equal(t, 0, b.countNotes(t))
	list, err := b.client.JobList(ctx, river.NewJobListParams())
	require.NoError(t, err)
	assert.Empty(t, list.Jobs, "the job outlived the rolled back data")

	var id int64
	require.NoError(t, b.tx(actx, func(tx TTx) error {
		if err := b.addNote(actx, tx, "kept"); err != nil {
			return err
		}
		res, err := b.client.InsertTx(actx, tx, probeArgs{Want: acme.ID}, nil)
		if err == nil {
			id = res.Job.ID
			var md map[string]any
			require.NoError(t, json.Unmarshal(res.Job.Metadata, &md))
			assert.Equal(t, acme.ID, md[jobs.MetadataKey])
		}
		return err
	}))
	ev := b.wait(t, 1)[0]
	assert.Equal(t, id, ev.Job.ID)
	assert.Equal(t, river.EventKindJobCompleted, ev.Kind)
	s := <-b.probes
	assert.Equal(t, acme.ID, s.Got)
	assert.Equal(t, []string{"kept"}, s.Rows)
}

// testJobWithoutValidTenantNeverRuns inserts jobs around the envelope
// (the raw client) with no tenant, a tenant that does not exist, and
// values that are not tenants: each is cancelled and its work never runs.
func testJobWithoutValidTenantNeverRuns[TTx any](t *testing.T, b *bed[TTx]) {
	ctx := context.Background()
	acme := addTenants(t, b.store, "acme")[0]
	cases := []struct {
		name     string
		metadata string
	}{
		{"no metadata", ``},
		{"no tenant key", `{"other":"x"}`},
		{"a tenant that does not exist", `{"` + jobs.MetadataKey + `":"` + tenant.NewID() + `"}`},
		{"an ID in another case", `{"` + jobs.MetadataKey + `":"` + strings.ToUpper(acme.ID) + `"}`},
		{"the key in another case", `{"TENANTWALL_TENANT":"` + acme.ID + `"}`},
		{"a number", `{"` + jobs.MetadataKey + `":42}`},
		{"an object", `{"` + jobs.MetadataKey + `":{"id":"` + acme.ID + `"}}`},
		{"an empty ID", `{"` + jobs.MetadataKey + `":""}`},
		{"a slug", `{"` + jobs.MetadataKey + `":"acme"}`},
	}
	for _, c := range cases {
		_, err := b.raw.Insert(ctx, probeArgs{Want: c.name}, &river.InsertOpts{Metadata: []byte(c.metadata)})
		require.NoError(t, err, c.name)
	}
	for _, ev := range b.wait(t, len(cases)) {
		var a probeArgs
		require.NoError(t, json.Unmarshal(ev.Job.EncodedArgs, &a))
		assert.Equal(t, river.EventKindJobCancelled, ev.Kind, "%s: job state %s", a.Want, ev.Job.State)
		assert.Equal(t, rivertype.JobStateCancelled, ev.Job.State, a.Want)
	}
	select {
	case s := <-b.probes:
		t.Fatalf("a job without a valid tenant ran: %+v", s)
	default:
	}
	// All but the missing tenant, which is a deleted tenant's job as far
	// as the envelope can tell, are reported.
	assert.Equal(t, map[tenant.EventKind]int{tenant.EventLookupFailure: len(cases) - 1}, b.audit.kinds())
}

// testTenantLifecycle: a suspended tenant's job is snoozed (or cancelled
// when configured so); a deleted tenant's job is cancelled.
func testTenantLifecycle[TTx any](t *testing.T, b *bed[TTx], suspendedEvent river.EventKind) {
	ctx := context.Background()
	ts := addTenants(t, b.store, "paused", "gone")
	paused, gone := ts[0], ts[1]
	paused.Status = tenant.StatusSuspended
	require.NoError(t, b.store.Update(ctx, paused))
	_, err := b.client.Insert(tenant.NewContext(ctx, paused), probeArgs{Want: paused.ID}, nil)
	require.NoError(t, err)
	ev := b.wait(t, 1)[0]
	assert.Equal(t, suspendedEvent, ev.Kind, "suspended tenant's job")
	assert.Equal(t, 1, b.audit.kinds()[tenant.EventSuspended])

	// The tenant is deleted between insert and work: the context still
	// carries it, the store no longer has it.
	require.NoError(t, b.store.Delete(ctx, gone.ID))
	_, err = b.client.Insert(tenant.NewContext(ctx, gone), probeArgs{Want: gone.ID}, nil)
	require.NoError(t, err)
	ev = b.wait(t, 1)[0]
	assert.Equal(t, river.EventKindJobCancelled, ev.Kind, "deleted tenant's job")
	select {
	case s := <-b.probes:
		t.Fatalf("a job of a suspended or deleted tenant ran: %+v", s)
	default:
	}
}

// testUniquePerTenant: the same unique args are one job per tenant, not
// one job globally.
func testUniquePerTenant[TTx any](t *testing.T, b *bed[TTx]) {
	ctx := context.Background()
	ts := addTenants(t, b.store, "acme", "globex")
	opts := &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}, ScheduledAt: time.Now().Add(time.Hour)}
	args := probeArgs{Want: "same args", N: 7}
	a1, err := b.client.Insert(tenant.NewContext(ctx, ts[0]), args, opts)
	require.NoError(t, err)
	assert.False(t, a1.UniqueSkippedAsDuplicate)
	a2, err := b.client.Insert(tenant.NewContext(ctx, ts[0]), args, opts)
	require.NoError(t, err)
	assert.True(t, a2.UniqueSkippedAsDuplicate, "the same tenant's second job was not deduplicated")
	assert.Equal(t, a1.Job.ID, a2.Job.ID)
	g, err := b.client.Insert(tenant.NewContext(ctx, ts[1]), args, opts)
	require.NoError(t, err)
	assert.False(t, g.UniqueSkippedAsDuplicate, "another tenant's job was taken for a duplicate")
	assert.NotEqual(t, a1.Job.ID, g.Job.ID)
}

// testList: each tenant lists its own jobs only, and DeleteParams
// selects one tenant's jobs only.
func testList[TTx any](t *testing.T, b *bed[TTx]) {
	ctx := context.Background()
	ts := addTenants(t, b.store, "acme", "globex")
	ids := map[string][]int64{}
	for i := range 3 {
		for _, tt := range ts[:1+i%2] {
			r, err := b.client.Insert(tenant.NewContext(ctx, tt), probeArgs{Want: tt.ID}, &river.InsertOpts{ScheduledAt: time.Now().Add(time.Hour)})
			require.NoError(t, err)
			ids[tt.ID] = append(ids[tt.ID], r.Job.ID)
		}
	}
	for _, tt := range ts {
		res, err := b.env.List(tenant.NewContext(ctx, tt), b.client.JobList, nil)
		require.NoError(t, err)
		assert.ElementsMatch(t, ids[tt.ID], jobIDs(res), tt.Slug)
	}
	_, err := b.env.List(ctx, b.client.JobList, nil)
	assert.ErrorIs(t, err, tenant.ErrNoTenant)
	pctx, err := tenant.WithPlatformScope(ctx, "test")
	require.NoError(t, err)
	_, err = b.env.List(pctx, b.client.JobList, nil)
	assert.ErrorIs(t, err, tenant.ErrNoTenant, "a platform context is not a tenant")

	// A deleted tenant's jobs go, and only its own.
	p, err := jobs.DeleteParams(ts[1].ID)
	require.NoError(t, err)
	del, err := b.client.JobDeleteMany(ctx, p)
	require.NoError(t, err)
	assert.Len(t, del.Jobs, len(ids[ts[1].ID]))
	for _, tt := range ts {
		res, err := b.env.List(tenant.NewContext(ctx, tt), b.client.JobList, nil)
		require.NoError(t, err)
		want := len(ids[tt.ID])
		if tt.ID == ts[1].ID {
			want = 0
		}
		assert.Len(t, res.Jobs, want, "%s after deleting %s's jobs", tt.Slug, ts[1].Slug)
	}
	for _, bad := range []string{"", "globex", "' OR 1=1 --"} {
		_, err := jobs.DeleteParams(bad)
		assert.Error(t, err, "DeleteParams(%q)", bad)
	}
	assert.Empty(t, b.audit.kinds(), "nothing to report")
}

func jobIDs(res *river.JobListResult) []int64 {
	var out []int64
	if res != nil {
		for _, j := range res.Jobs {
			out = append(out, j.ID)
		}
	}
	return out
}

// insertScheduled inserts one probe job for each tenant, due in an hour
// so that it stays in the table, and returns their IDs by tenant ID.
func insertScheduled[TTx any](t *testing.T, b *bed[TTx], ts ...tenant.Tenant) map[string]int64 {
	t.Helper()
	ids := map[string]int64{}
	for _, tt := range ts {
		r, err := b.client.Insert(tenant.NewContext(context.Background(), tt), probeArgs{Want: tt.ID}, &river.InsertOpts{ScheduledAt: time.Now().Add(time.Hour)})
		require.NoError(t, err)
		ids[tt.ID] = r.Job.ID
	}
	return ids
}

// testListRefined: the caller refines a tenant's listing with its own
// Where. River joins Where predicates with a bare AND, so an OR outside
// parentheses selects (tenant AND kind = 'none') OR kind = 'probe', the
// other tenant's job included: the listing must not return it, and
// says so to the caller and the auditor.
func testListRefined[TTx any](t *testing.T, b *bed[TTx]) {
	ctx := context.Background()
	ts := addTenants(t, b.store, "acme", "globex")
	acme, globex := ts[0], ts[1]
	ids := insertScheduled(t, b, acme, globex)
	// A job inserted around the envelope, naming no tenant.
	_, err := b.raw.Insert(ctx, probeArgs{Want: "nobody"}, &river.InsertOpts{ScheduledAt: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	actx := tenant.NewContext(ctx, acme)

	t.Run("an OR outside parentheses lists nothing and is reported", func(t *testing.T) {
		// Whichever side of the OR meets the tenant's condition, the other
		// selects every tenant's probes.
		refused := 0
		for _, where := range []string{
			"kind = 'tenantwall_none' OR kind = 'tenantwall_probe'",
			"kind = 'tenantwall_probe' OR kind = 'tenantwall_none'",
		} {
			res, err := b.env.List(actx, b.client.JobList, river.NewJobListParams().Where(where))
			for _, id := range jobIDs(res) {
				assert.Equal(t, ids[acme.ID], id, "%s: job %d of another tenant, or none, listed for acme", where, id)
			}
			if err == nil {
				continue
			}
			refused++
			assert.ErrorIs(t, err, jobs.ErrForeignJob, where)
			assert.Nil(t, res, where)
			b.audit.mu.Lock()
			if assert.Len(t, b.audit.events, 1, "%s: one listing, one report", where) {
				ev := b.audit.events[0]
				assert.Equal(t, tenant.EventCrossTenant, ev.Kind)
				assert.Equal(t, acme.ID, ev.TenantID)
				assert.Contains(t, []string{globex.ID, ""}, ev.OwnerID)
			}
			b.audit.events = nil
			b.audit.mu.Unlock()
		}
		assert.Positive(t, refused, "neither OR widened the query: the test proves nothing")
	})
	t.Run("refinements that narrow list the tenant's own jobs", func(t *testing.T) {
		for _, refined := range []*river.JobListParams{
			river.NewJobListParams().Where("(kind = 'tenantwall_none' OR kind = 'tenantwall_probe')"),
			river.NewJobListParams().Kinds("tenantwall_probe").States(rivertype.JobStateScheduled),
			river.NewJobListParams().IDs(ids[acme.ID], ids[globex.ID]),
		} {
			res, err := b.env.List(actx, b.client.JobList, refined)
			require.NoError(t, err)
			assert.Equal(t, []int64{ids[acme.ID]}, jobIDs(res))
		}
		assert.Empty(t, b.audit.kinds())
	})
	// River itself refuses a named argument bound twice, before any query
	// runs, so List's check of the rows never sees this listing: the
	// check's refusal of another tenant's rows is TestListChecksEveryJob's
	// ("another tenant's job"), with a list function that ignores the
	// params. This test holds the first line: if River ever let the
	// caller's binding of @tenantwall_tenant win, it fails here.
	t.Run("River refuses a refinement that binds the tenant's argument again", func(t *testing.T) {
		refined := river.NewJobListParams().Where("metadata->>'"+jobs.MetadataKey+"' = @tenantwall_tenant", river.NamedArgs{"tenantwall_tenant": globex.ID})
		res, err := b.env.List(actx, b.client.JobList, refined)
		assert.ErrorContains(t, err, "named argument @tenantwall_tenant already registered")
		assert.NotErrorIs(t, err, jobs.ErrForeignJob, "refused by River, before any row")
		assert.Nil(t, res)
		assert.Empty(t, b.audit.kinds())
	})
	t.Run("DeleteParams refined with an OR outside parentheses deletes the tenant's jobs only", func(t *testing.T) {
		p, err := jobs.DeleteParams(globex.ID)
		require.NoError(t, err)
		del, err := b.client.JobDeleteMany(ctx, p.Where("kind = 'tenantwall_none' OR kind = 'tenantwall_probe' -- comment"))
		require.NoError(t, err)
		assert.Equal(t, []int64{ids[globex.ID]}, func() []int64 {
			var out []int64
			for _, j := range del.Jobs {
				out = append(out, j.ID)
			}
			return out
		}())
		res, err := b.env.List(actx, b.client.JobList, nil)
		require.NoError(t, err)
		assert.Equal(t, []int64{ids[acme.ID]}, jobIDs(res), "acme's job survives globex's delete")
	})
}

// runSuite runs every envelope test against one engine; newBedWith makes
// its test bed (PostgreSQL under row level security, or SQLite under the
// row filter).
func runSuite[TTx any](t *testing.T, newBedWith func(*testing.T, *tenant.MemStore, configure, ...jobs.Option) *bed[TTx]) {
	newBed := func(t *testing.T, opts ...jobs.Option) *bed[TTx] {
		return newBedWith(t, tenant.NewMemStore(), nil, opts...)
	}
	t.Run("interleaved jobs of several tenants each see only their own tenant and rows", func(t *testing.T) {
		testInterleavedIsolation(t, newBed(t))
	})
	t.Run("interleaved jobs of several tenants on one worker slot each see only their own", func(t *testing.T) {
		testInterleavedIsolation(t, newBedWith(t, tenant.NewMemStore(), oneWorker))
	})
	t.Run("an insert without a tenant inserts nothing", func(t *testing.T) {
		testInsertWithoutTenant(t, newBed(t))
	})
	t.Run("a job exists only if the data of its transaction does", func(t *testing.T) {
		testJobExistsOnlyWithItsData(t, newBed(t))
	})
	t.Run("a job without a valid tenant is cancelled and never runs", func(t *testing.T) {
		testJobWithoutValidTenantNeverRuns(t, newBed(t))
	})
	t.Run("a suspended tenant's job is snoozed and a deleted tenant's cancelled", func(t *testing.T) {
		testTenantLifecycle(t, newBed(t), river.EventKindJobSnoozed)
	})
	t.Run("a suspended tenant's job is cancelled when snoozing is off", func(t *testing.T) {
		testTenantLifecycle(t, newBed(t, jobs.WithSuspendedSnooze(0)), river.EventKindJobCancelled)
	})
	t.Run("unique jobs are unique per tenant", func(t *testing.T) {
		testUniquePerTenant(t, newBed(t))
	})
	t.Run("List lists the context tenant's jobs only", func(t *testing.T) {
		testList(t, newBed(t))
	})
	t.Run("List never returns another tenant's job, whatever the caller's refinement", func(t *testing.T) {
		testListRefined(t, newBed(t))
	})
	t.Run("a periodic job fans out to each active tenant", func(t *testing.T) {
		testFanOut(t, newBedWith)
	})
}
