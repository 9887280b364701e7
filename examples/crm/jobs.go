package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"github.com/tenantwall/tenantwall/jobs"
	"github.com/tenantwall/tenantwall/sqlscope"
	"github.com/tenantwall/tenantwall/tenant"
)

// The CRM's background work runs as River jobs through the tenant
// envelope (package jobs): River's SQLite driver on the embedded database
// by default, riverpgxv5 in PostgreSQL mode, where the jobs' database work
// runs under row level security like a request's.
//
//   - crm_daily_digest_tick, a platform job scheduled every 24 hours (and
//     when the server starts), fans out to one crm_daily_digest per active
//     tenant: a notification summing up the tenant's open tasks, leads
//     and unread notifications, pushed to its open WebSockets. Unique per
//     tenant and day, so a restart or a retried fan-out sends no second
//     digest that day.
//   - crm_dashboard_precompute recomputes a tenant's dashboard into the
//     cache for each of its users after the tenant's data changes, so the
//     next dashboard request is a cache hit. Unique per tenant while one
//     waits, and scheduled a second later, so a burst of writes costs one
//     recomputation. It is an optimisation only: the dashboard computes
//     on a miss as before.
//
// The operator API lists a tenant's jobs: GET
// /admin/api/tenants/{slug}/jobs/?state=…, and enqueues a digest now:
// POST /admin/api/tenants/{slug}/jobs/digest/.

type digestTickArgs struct{}

func (digestTickArgs) Kind() string { return "crm_daily_digest_tick" }

// digestArgs is the per-tenant digest. Day makes the digest of each day
// unique per tenant; the tenant itself travels in the job's metadata.
type digestArgs struct {
	Day string `json:"day"`
}

func (digestArgs) Kind() string { return "crm_daily_digest" }

type precomputeArgs struct{}

func (precomputeArgs) Kind() string { return "crm_dashboard_precompute" }

// jobClient is what the CRM uses of a River client, whatever its driver.
type jobClient interface {
	Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
	JobList(ctx context.Context, params *river.JobListParams) (*river.JobListResult, error)
	JobDeleteMany(ctx context.Context, params *river.JobDeleteManyParams) (*river.JobDeleteManyResult, error)
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
}

// openJobs migrates River's tables (as the admin role) and builds the
// client; startJobs starts working.
func (a *app) openJobs(ctx context.Context) error {
	env, err := jobs.New(a.tenants, jobs.WithPlatformKinds(digestTickArgs{}.Kind()), jobs.WithAuditor(a.auditor))
	if err != nil {
		return err
	}
	a.jobsEnv = env
	if a.data.dialect == sqlscope.Postgres {
		admin, err := pgxpool.New(ctx, a.cfg.dbAdmin)
		if err != nil {
			return fmt.Errorf("jobs: %w", err)
		}
		defer admin.Close()
		if err := migrateRiver(ctx, riverpgxv5.New(admin)); err != nil {
			return err
		}
		pcfg, err := pgxpool.ParseConfig(a.cfg.db)
		if err != nil {
			return fmt.Errorf("jobs: %w", err)
		}
		// River's connections come out of -db-max-open, so that the
		// server never holds more backends of the application role than
		// that flag says: an eighth of it, at least 2 (River keeps one
		// for LISTEN) and at most 8.
		p := a.cfg.pools
		riverConns := min(max(p.dbMaxOpen/8, 2), 8)
		if p.dbMaxOpen <= riverConns {
			return fmt.Errorf("-db-max-open %d: PostgreSQL mode needs more than the %d connections River's jobs take", p.dbMaxOpen, riverConns)
		}
		a.data.db.SetMaxOpenConns(p.dbMaxOpen - riverConns)
		a.data.db.SetMaxIdleConns(min(p.dbMaxIdle, p.dbMaxOpen-riverConns))
		pcfg.MaxConns = int32(riverConns)
		pool, err := pgxpool.NewWithConfig(ctx, pcfg)
		if err != nil {
			return fmt.Errorf("jobs: %w", err)
		}
		a.closers = append(a.closers, func() error { pool.Close(); return nil })
		a.jobs, err = newJobClient[pgx.Tx](a, riverpgxv5.New(pool), env)
		return err
	}
	// River gets a handle of its own on the embedded database: one
	// connection, as its SQLite driver recommends, whose transactions
	// take the write lock when they begin, so that they wait for the
	// application's writers (busy_timeout) instead of failing to upgrade.
	db, err := sql.Open("sqlite", a.cfg.db+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_txlock=immediate")
	if err != nil {
		return err
	}
	db.SetMaxOpenConns(1)
	a.closers = append(a.closers, db.Close)
	if err := migrateRiver(ctx, riversqlite.New(db)); err != nil {
		return err
	}
	a.jobs, err = newJobClient[*sql.Tx](a, riversqlite.New(db), env)
	return err
}

func migrateRiver[TTx any](ctx context.Context, d riverdriver.Driver[TTx]) error {
	m, err := rivermigrate.New(d, nil)
	if err != nil {
		return fmt.Errorf("jobs: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("jobs: migrate: %w", err)
	}
	return nil
}

func newJobClient[TTx any](a *app, d riverdriver.Driver[TTx], env *jobs.Envelope) (jobClient, error) {
	workers := river.NewWorkers()
	fan, err := jobs.NewFanOut[TTx](env, a.tenants, func(_ context.Context, _ tenant.Tenant, job *river.Job[digestTickArgs]) (river.JobArgs, *river.InsertOpts, error) {
		day := job.CreatedAt.UTC().Format(time.DateOnly)
		return digestArgs{Day: day}, &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}}, nil
	})
	if err != nil {
		return nil, err
	}
	river.AddWorker(workers, fan)
	river.AddWorker(workers, river.WorkFunc(func(ctx context.Context, job *river.Job[digestArgs]) error {
		return a.sendDigest(ctx)
	}))
	river.AddWorker(workers, river.WorkFunc(func(ctx context.Context, _ *river.Job[precomputeArgs]) error {
		return a.precomputeDashboards(ctx)
	}))
	c, err := river.NewClient(d, &river.Config{
		Logger:     a.log,
		Middleware: []rivertype.Middleware{env},
		Queues:     map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 4}},
		Workers:    workers,
		PeriodicJobs: []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(24*time.Hour),
			func() (river.JobArgs, *river.InsertOpts) { return digestTickArgs{}, nil },
			&river.PeriodicJobOpts{ID: "crm_daily_digest", RunOnStart: true})},
	})
	if err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	return c, nil
}

// startJobs starts working jobs, until the app closes.
func (a *app) startJobs(ctx context.Context) error {
	if err := a.jobs.Start(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	a.closers = append(a.closers, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return a.jobs.Stop(ctx)
	})
	return nil
}

// sendDigest is the work of crm_daily_digest, in the job's tenant.
func (a *app) sendDigest(ctx context.Context) error {
	o, err := a.countAll(ctx, "all")
	if err != nil {
		return err
	}
	_, err = a.create(ctx, resources["notifications"], map[string]any{
		"message": fmt.Sprintf("Daily digest: %d open tasks, %d leads, %d unread notifications", o.OpenTasks, o.Leads, o.Unread),
		"read":    false,
	})
	return err
}

// precomputeDashboards is the work of crm_dashboard_precompute: it fills
// the dashboard cache of each of the tenant's users, under the keys the
// dashboard handler reads.
func (a *app) precomputeDashboards(ctx context.Context) error {
	var ids []int64
	err := a.data.tx(ctx, func(f *sqlscope.Filter) error {
		rows, err := f.Query(ctx, `SELECT id FROM users WHERE tenant_id = {tenant}`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return rows.Err()
	})
	if err != nil {
		return err
	}
	var o *overview
	for _, id := range ids {
		for f := range filters {
			_, err := a.dash.Get(ctx, overviewKey(id, f), func(ctx context.Context) (overview, error) {
				if o == nil {
					v, err := a.countAll(ctx, "all")
					if err != nil {
						return v, err
					}
					o = &v
				}
				v := *o
				v.Filter = f
				return v, nil
			})
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// enqueuePrecompute asks for the tenant's dashboards to be recomputed
// after a change. A failure is logged, not returned: the write it follows
// has succeeded, and the dashboard computes on a cache miss anyway.
//
// A burst of writes of one tenant costs one insert a second per process:
// the job is scheduled a second ahead, so it runs after every write of
// the second that asked for it.
func (a *app) enqueuePrecompute(ctx context.Context) {
	id, err := tenant.IDFromContext(ctx)
	if a.jobs == nil || err != nil {
		return
	}
	now := time.Now()
	if next, ok := a.precomputeAsked.Load(id); ok && now.Before(next.(time.Time)) {
		return
	}
	a.precomputeAsked.Store(id, now.Add(time.Second))
	_, err = a.jobs.Insert(ctx, precomputeArgs{}, &river.InsertOpts{
		ScheduledAt: now.Add(time.Second),
		UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: []rivertype.JobState{
			rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning, rivertype.JobStateScheduled}},
	})
	if err != nil {
		a.log.WarnContext(ctx, "dashboard precompute not enqueued", "err", err)
	}
}

// jobView is a job as the operator API shows it.
type jobView struct {
	ID          int64      `json:"id"`
	Kind        string     `json:"kind"`
	State       string     `json:"state"`
	Attempt     int        `json:"attempt"`
	CreatedAt   time.Time  `json:"created_at"`
	ScheduledAt time.Time  `json:"scheduled_at"`
	FinalizedAt *time.Time `json:"finalized_at"`
	Errors      []string   `json:"errors"`
}

// jobRoutes adds the operator API's job endpoints to mux.
func (a *app) jobRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /admin/api/tenants/{slug}/jobs/", func(w http.ResponseWriter, r *http.Request) {
		ctx, err := a.operatorTenant(r)
		if err != nil {
			a.respond(w, r, 0, nil, err)
			return
		}
		params := river.NewJobListParams().First(100).OrderBy(river.JobListOrderByID, river.SortOrderDesc)
		if s := r.URL.Query().Get("state"); s != "" {
			state, ok := jobState(s)
			if !ok {
				a.respond(w, r, 0, nil, badRequest{`parameter "state" must be one of River's job states`})
				return
			}
			params = params.States(state)
		}
		// List adds the tenant and refuses the listing if River
		// returns a job of another tenant (jobs.ErrForeignJob).
		res, err := a.jobsEnv.List(ctx, a.jobs.JobList, params)
		out := []jobView{}
		if err == nil {
			for _, j := range res.Jobs {
				v := jobView{ID: j.ID, Kind: j.Kind, State: string(j.State), Attempt: j.Attempt,
					CreatedAt: j.CreatedAt, ScheduledAt: j.ScheduledAt, FinalizedAt: j.FinalizedAt, Errors: []string{}}
				for _, e := range j.Errors {
					v.Errors = append(v.Errors, e.Error)
				}
				out = append(out, v)
			}
		}
		a.respond(w, r, http.StatusOK, map[string]any{"results": out}, err)
	})
	mux.HandleFunc("POST /admin/api/tenants/{slug}/jobs/digest/", func(w http.ResponseWriter, r *http.Request) {
		ctx, err := a.operatorTenant(r)
		if err != nil {
			a.respond(w, r, 0, nil, err)
			return
		}
		// An operator's digest is not the day's: it is not unique.
		res, err := a.jobs.Insert(ctx, digestArgs{Day: "operator " + time.Now().UTC().Format(time.RFC3339Nano)}, nil)
		if err != nil {
			a.respond(w, r, 0, nil, err)
			return
		}
		a.respond(w, r, http.StatusAccepted, map[string]any{"id": res.Job.ID, "kind": res.Job.Kind, "state": res.Job.State}, nil)
	})
}

// operatorTenant returns the request's context carrying the tenant named
// by the path's slug.
func (a *app) operatorTenant(r *http.Request) (context.Context, error) {
	t, err := a.tenants.BySlug(r.Context(), r.PathValue("slug"))
	if err != nil {
		return nil, notFoundIf(err)
	}
	return tenant.NewContext(r.Context(), t), nil
}

// jobState accepts River's job states only.
func jobState(s string) (rivertype.JobState, bool) {
	for _, st := range rivertype.JobStates() {
		if string(st) == s {
			return st, true
		}
	}
	return "", false
}

// deleteTenantJobs removes every job of a deleted tenant (lifecycle.go).
// River leaves running jobs alone; the tenant is suspended before it is
// deleted, so none of its jobs starts again, and the verification after
// the delete reports one still running (run the delete again).
func (a *app) deleteTenantJobs(ctx context.Context, id string) (int64, error) {
	if a.jobs == nil {
		return 0, nil
	}
	params, err := jobs.DeleteParams(id)
	if err != nil {
		return 0, err
	}
	var n int64
	for {
		res, err := a.jobs.JobDeleteMany(ctx, params)
		if err != nil {
			return n, err
		}
		n += int64(len(res.Jobs))
		if len(res.Jobs) == 0 {
			return n, nil
		}
	}
}
