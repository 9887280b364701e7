package jobs_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/tenantwall/tenantwall/jobs"
	"github.com/tenantwall/tenantwall/sqlscope"
	"github.com/tenantwall/tenantwall/tenant"
)

// probeArgs is the tenant job of the tests. Want is the tenant the test
// inserted it for; the job compares it with the tenant in its context.
type probeArgs struct {
	Want string `json:"want"`
	N    int    `json:"n"`
}

func (probeArgs) Kind() string { return "tenantwall_probe" }

// seen is what one probe job saw.
type seen struct {
	JobID    int64
	Want     string
	Got      string   // the context's tenant ID, "" for none
	Rows     []string // the tenant data visible to the job, sorted
	Leftover string   // the tenant setting left on a connection outside the job's transaction (PostgreSQL)
	Err      error
}

type probeWorker struct {
	river.WorkerDefaults[probeArgs]
	rows func(ctx context.Context) ([]string, string, error)
	out  chan seen
}

func (w *probeWorker) Work(ctx context.Context, job *river.Job[probeArgs]) error {
	got, _ := tenant.IDFromContext(ctx)
	rows, left, err := w.rows(ctx)
	sort.Strings(rows)
	w.out <- seen{JobID: job.ID, Want: job.Args.Want, Got: got, Rows: rows, Leftover: left, Err: err}
	return nil
}

// bed is one engine set up for the envelope tests: a store with tenants, a
// started client with the envelope, and a client without it that inserts
// around the envelope, as a hostile or mistaken component would.
type bed[TTx any] struct {
	store  *tenant.MemStore
	env    *jobs.Envelope
	client *river.Client[TTx]
	raw    *river.Client[TTx]
	probes chan seen
	events <-chan *river.Event
	audit  *auditLog // what the envelope reported, unless the test gave its own auditor
	// tx runs fn in a transaction of the engine, committing when fn
	// returns nil; addNote inserts tenant data in it, scoped to ctx's
	// tenant.
	tx      func(ctx context.Context, fn func(tx TTx) error) error
	addNote func(ctx context.Context, tx TTx, body string) error
	// countNotes counts every tenant's notes, unscoped (admin).
	countNotes func(t *testing.T) int
}

// configure adds to a bed's client configuration before it starts.
type configure func(t *testing.T, env *jobs.Envelope, w *river.Workers, c *river.Config)

// oneWorker makes the client work one job at a time: every job runs
// after another tenant's job, on the same goroutine slot and, in
// PostgreSQL, most often on the same pooled connection.
func oneWorker(_ *testing.T, _ *jobs.Envelope, _ *river.Workers, c *river.Config) {
	c.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 1}}
}

func newBed[TTx any](t *testing.T, driver riverdriver.Driver[TTx], store *tenant.MemStore, rows func(context.Context) ([]string, string, error), more configure, opts ...jobs.Option) *bed[TTx] {
	t.Helper()
	b := &bed[TTx]{store: store, probes: make(chan seen, 256), audit: &auditLog{}}
	env, err := jobs.New(store, append([]jobs.Option{jobs.WithAuditor(b.audit)}, opts...)...)
	require.NoError(t, err)
	b.env = env
	workers := river.NewWorkers()
	river.AddWorker(workers, &probeWorker{rows: rows, out: b.probes})
	cfg := &river.Config{
		Middleware:        []rivertype.Middleware{env},
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 4}},
		Workers:           workers,
		FetchCooldown:     5 * time.Millisecond,
		FetchPollInterval: 20 * time.Millisecond,
		TestOnly:          true,
	}
	if more != nil {
		more(t, env, workers, cfg)
	}
	b.client, err = river.NewClient(driver, cfg)
	require.NoError(t, err)
	b.raw, err = river.NewClient(driver, &river.Config{TestOnly: true})
	require.NoError(t, err)
	var cancel func()
	b.events, cancel = b.client.Subscribe(river.EventKindJobCompleted, river.EventKindJobCancelled,
		river.EventKindJobFailed, river.EventKindJobSnoozed)
	ctx, stop := context.WithCancel(context.Background())
	require.NoError(t, b.client.Start(ctx))
	t.Cleanup(func() {
		sctx, c := context.WithTimeout(context.Background(), 10*time.Second)
		defer c()
		_ = b.client.Stop(sctx)
		stop()
		cancel()
	})
	return b
}

// wait returns the next n job events, failing the test after a deadline.
func (b *bed[TTx]) wait(t *testing.T, n int) []*river.Event {
	t.Helper()
	var got []*river.Event
	deadline := time.After(20 * time.Second)
	for len(got) < n {
		select {
		case ev := <-b.events:
			got = append(got, ev)
		case <-deadline:
			t.Fatalf("waited for %d job events, got %d", n, len(got))
		}
	}
	return got
}

// addTenants creates active tenants with the given slugs.
func addTenants(t *testing.T, store *tenant.MemStore, slugs ...string) []tenant.Tenant {
	t.Helper()
	var out []tenant.Tenant
	for _, s := range slugs {
		tt := tenant.Tenant{ID: tenant.NewID(), Slug: s, Name: strings.ToUpper(s), Status: tenant.StatusActive}
		require.NoError(t, store.Create(context.Background(), tt))
		out = append(out, tt)
	}
	return out
}

// newSQLiteBed sets up River's tables and a notes table in a fresh SQLite
// file; jobs see notes through the row filter.
func newSQLiteBed(t *testing.T, opts ...jobs.Option) *bed[*sql.Tx] {
	return newSQLiteBedWith(t, tenant.NewMemStore(), nil, opts...)
}

func newSQLiteBedWith(t *testing.T, store *tenant.MemStore, more configure, opts ...jobs.Option) *bed[*sql.Tx] {
	t.Helper()
	db := openSQLite(t)
	ctx := context.Background()
	_, err := db.ExecContext(ctx, `CREATE TABLE notes (id INTEGER PRIMARY KEY, tenant_id text NOT NULL CHECK (tenant_id <> ''), body text NOT NULL)`)
	require.NoError(t, err)
	f, err := sqlscope.NewFilter(db, sqlscope.SQLite)
	require.NoError(t, err)
	rows := func(ctx context.Context) ([]string, string, error) {
		r, err := f.Query(ctx, `SELECT body FROM notes WHERE tenant_id = {tenant}`)
		if err != nil {
			return nil, "", err
		}
		defer r.Close()
		var out []string
		for r.Next() {
			var s string
			if err := r.Scan(&s); err != nil {
				return nil, "", err
			}
			out = append(out, s)
		}
		return out, "", r.Err()
	}
	b := newBed(t, riversqlite.New(db), store, rows, more, opts...)
	b.tx = func(ctx context.Context, fn func(*sql.Tx) error) error {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if err := fn(tx); err != nil {
			return err
		}
		return tx.Commit()
	}
	b.addNote = func(ctx context.Context, tx *sql.Tx, body string) error {
		_, err := f.On(tx).Insert(ctx, "notes", []string{"body"}, body)
		return err
	}
	b.countNotes = func(t *testing.T) int {
		var n int
		require.NoError(t, db.QueryRow(`SELECT count(*) FROM notes`).Scan(&n))
		return n
	}
	return b
}

// openSQLite opens a fresh SQLite file with River's tables migrated. One
// connection, as riversqlite recommends: SQLite runs one writer at a time.
func openSQLite(t testing.TB) *sql.DB {
	t.Helper()
	dsn := filepath.Join(t.TempDir(), "jobs.db") + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)"
	db, err := sql.Open("sqlite", dsn)
	require.NoError(t, err)
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	m, err := rivermigrate.New(riversqlite.New(db), nil)
	require.NoError(t, err)
	_, err = m.Migrate(context.Background(), rivermigrate.DirectionUp, nil)
	require.NoError(t, err)
	return db
}
