package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/tenantwall/tenantwall/lifecycle"
	"github.com/tenantwall/tenantwall/sqlscope"
	"github.com/tenantwall/tenantwall/sqlscope/adopt"
)

// Operator API for migrate-db: POST /admin/api/migrate-db/ runs package
// adopt on this server's own database, through its admin handle, as an
// operation whose progress GET /admin/api/operations/{id}/ reports. The
// body never names a database: no URL, no path, no schema (PostgreSQL:
// public; SQLite: main). It must name the tables to adopt, and none of
// them may be one of the CRM's own tenant tables.
//
// POST /admin/api/tenants/{slug}/move/ runs 'crm tenant move' as an
// operation, to the one target the server is configured with
// (-move-to-data: the data directory of a SQLite instance). Without it the
// endpoint answers 404. The request names nothing but the tenant: a
// target taken from a body would let a token holder point the server at
// any database or path. One move per tenant runs at a time (409).

// migrateTable is a table name the API accepts: a plain lower-case SQL
// identifier.
var migrateTable = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

type migrateRequest struct {
	Tenant  string   `json:"tenant"`
	Tables  []string `json:"tables"`
	Through []string `json:"through"` // table.column
	AppRole string   `json:"app_role"`
	Batch   int      `json:"batch"`
	DryRun  bool     `json:"dry_run"`
}

// check refuses what the API does not understand. The tables must be
// among allowed, the server's -migrate-tables: the API adopts only what
// the operator named when starting the server, never one of the
// server's own tables because its name looked harmless.
func (m migrateRequest) check(dialect sqlscope.Dialect, allowed []string) error {
	if m.Tenant == "" {
		return badRequest{`field "tenant": the slug of the tenant the rows go to`}
	}
	if len(m.Tables) == 0 {
		return badRequest{`field "tables": name the tables to adopt`}
	}
	for _, tb := range m.Tables {
		if !migrateTable.MatchString(tb) {
			return badRequest{fmt.Sprintf(`field "tables": %q is not a plain lower-case table name`, tb)}
		}
		if !slices.Contains(allowed, tb) {
			return badRequest{fmt.Sprintf(`field "tables": %q is not one of the server's -migrate-tables`, tb)}
		}
	}
	for _, tc := range m.Through {
		table, column, ok := strings.Cut(tc, ".")
		if !ok || !slices.Contains(m.Tables, table) || !migrateTable.MatchString(column) {
			return badRequest{fmt.Sprintf(`field "through": %q: want table.column, table one of "tables"`, tc)}
		}
	}
	if m.AppRole != "" && (dialect != sqlscope.Postgres || !migrateTable.MatchString(m.AppRole)) {
		return badRequest{`field "app_role": a plain role name, on PostgreSQL only`}
	}
	if m.Batch < 0 {
		return badRequest{`field "batch": a positive number of rows`}
	}
	return nil
}

// adoptProgress reports adopt's steps as lifecycle.Progress, the shape
// the operations endpoint serves: Step names the step, Rows and RowsTotal
// count the current backfill, Done marks the last step's end.
func adoptProgress(progress func(lifecycle.Progress)) func(adopt.Progress) {
	return func(p adopt.Progress) {
		table := p.Table
		if table == "" {
			table = "(guard function)"
		}
		progress(lifecycle.Progress{
			Op:        "migrate-db",
			Step:      fmt.Sprintf("%d/%d %s %s", p.Step, p.Steps, p.Phase, table),
			Rows:      p.Rows,
			RowsTotal: p.Total,
			Elapsed:   p.Elapsed,
			Done:      p.Done && p.Step == p.Steps,
		})
	}
}

// opsRoutes adds migrate-db to the operator API.
func (a *app) opsRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /admin/api/migrate-db/", func(w http.ResponseWriter, r *http.Request) {
		var body migrateRequest
		if err := decodeStrict(w, r, &body); err != nil {
			a.respond(w, r, 0, nil, err)
			return
		}
		if err := body.check(a.data.dialect, a.cfg.migrateTables); err != nil {
			a.respond(w, r, 0, nil, err)
			return
		}
		t, err := a.tenants.BySlug(r.Context(), body.Tenant)
		if err != nil {
			a.respond(w, r, 0, nil, notFoundIf(err))
			return
		}
		j := lifecycleJobs.start(a.log, "migrate-db", t.Slug, func(ctx context.Context, progress func(lifecycle.Progress)) (any, string, error) {
			return a.migrateOwnDB(ctx, t.ID, body, progress)
		})
		writeJSON(w, http.StatusAccepted, j)
	})
	mux.HandleFunc("POST /admin/api/tenants/{slug}/move/", func(w http.ResponseWriter, r *http.Request) {
		if a.cfg.moveTo == "" {
			writeError(w, http.StatusNotFound, "not found: this server has no move target (-move-to-data)")
			return
		}
		t, err := a.tenants.BySlug(r.Context(), r.PathValue("slug"))
		if err != nil {
			a.respond(w, r, 0, nil, notFoundIf(err))
			return
		}
		key := moveKey{a, t.Slug}
		if _, busy := moving.LoadOrStore(key, true); busy {
			writeError(w, http.StatusConflict, "a move of this tenant is running")
			return
		}
		j := lifecycleJobs.start(a.log, "move", t.Slug, func(ctx context.Context, progress func(lifecycle.Progress)) (any, string, error) {
			defer moving.Delete(key)
			var out lockedBuffer
			in := input{str: map[string]string{"slug": t.Slug, "to-data": a.cfg.moveTo}, out: &out}
			err := a.moveTenant(ctx, in, progress)
			return map[string]any{"log": out.String()}, "", err
		})
		writeJSON(w, http.StatusAccepted, j)
	})
}

type moveKey struct {
	a    *app
	slug string
}

// moving holds the tenants being moved.
var moving sync.Map

// lockedBuffer is a bytes.Buffer safe for the move's writers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// migrateOwnDB adopts body's tables in the server's own database. A dry
// run returns the plan's statements and changes nothing.
func (a *app) migrateOwnDB(ctx context.Context, tenantID string, body migrateRequest, progress func(lifecycle.Progress)) (any, string, error) {
	db := a.data.admin
	var s adopt.Schema
	var err error
	if a.data.dialect == sqlscope.Postgres {
		s, err = adopt.Inspect(ctx, db, "public", body.Tables...)
	} else {
		s, err = adopt.InspectSQLite(ctx, db, body.Tables...)
	}
	if err != nil {
		return nil, "", err
	}
	var opts []adopt.Option
	if body.Batch > 0 {
		opts = append(opts, adopt.WithBatchSize(body.Batch))
	}
	plan, err := adoptionPlan(s, tenantID, strings.Join(body.Through, ","), opts)
	if err != nil {
		return nil, "", err
	}
	if body.DryRun {
		var b strings.Builder
		_, err := plan.WriteTo(&b)
		return map[string]any{"dry_run": true, "statements": b.String()}, "", err
	}
	runOpts := []adopt.RunOption{adopt.WithProgress(adoptProgress(progress))}
	if body.AppRole != "" {
		runOpts = append(runOpts, adopt.WithAppRole(body.AppRole))
	}
	rep, err := adopt.Run(ctx, db, plan, runOpts...)
	if rep == nil {
		return nil, "", err
	}
	return map[string]any{"tables": rep.Tables, "app_role": rep.AppRole}, "", err
}
