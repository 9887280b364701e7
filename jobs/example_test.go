package jobs_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"github.com/tenantwall/tenantwall/jobs"
	"github.com/tenantwall/tenantwall/tenant"
)

// digestArgs is a tenant job: its args say nothing about the tenant.
type digestArgs struct {
	Subject string `json:"subject"`
}

func (digestArgs) Kind() string { return "digest" }

type digestWorker struct {
	river.WorkerDefaults[digestArgs]
	done chan string
}

func (w *digestWorker) Work(ctx context.Context, job *river.Job[digestArgs]) error {
	t, ok := tenant.FromContext(ctx) // put there by the envelope
	if !ok {
		return tenant.ErrNoTenant
	}
	w.done <- job.Args.Subject + " for " + t.Slug
	return nil
}

// Example runs a tenant job on River's SQLite driver: the job is inserted
// from a tenant's context, worked with that tenant in its context, and
// listed for that tenant.
func Example() {
	dir, err := os.MkdirTemp("", "jobs-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	db, err := sql.Open("sqlite", filepath.Join(dir, "jobs.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	ctx := context.Background()
	migrator, err := rivermigrate.New(riversqlite.New(db), nil)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		log.Fatal(err)
	}

	store := tenant.NewMemStore()
	acme := tenant.Tenant{ID: tenant.NewID(), Slug: "acme", Name: "Acme", Status: tenant.StatusActive}
	if err := store.Create(ctx, acme); err != nil {
		log.Fatal(err)
	}
	env, err := jobs.New(store)
	if err != nil {
		log.Fatal(err)
	}
	worker := &digestWorker{done: make(chan string, 1)}
	workers := river.NewWorkers()
	river.AddWorker(workers, worker)
	client, err := river.NewClient(riversqlite.New(db), &river.Config{
		Middleware: []rivertype.Middleware{env},
		Queues:     map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 2}},
		Workers:    workers,
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := client.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer client.Stop(ctx)

	_, err = client.Insert(ctx, digestArgs{Subject: "daily digest"}, nil)
	fmt.Println("without a tenant:", errors.Is(err, tenant.ErrNoTenant))

	if _, err := client.Insert(tenant.NewContext(ctx, acme), digestArgs{Subject: "daily digest"}, nil); err != nil {
		log.Fatal(err)
	}
	fmt.Println("worked:", <-worker.done)

	// Only acme's jobs come back: List refuses a listing in which River
	// returned another tenant's. Params choose among them with River's
	// typed refinements; Where never holds tenant input (see List).
	res, err := env.List(tenant.NewContext(ctx, acme), client.JobList, river.NewJobListParams().Kinds("digest"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("acme's digests:", len(res.Jobs))
	// Output:
	// without a tenant: true
	// worked: daily digest for acme
	// acme's digests: 1
}
