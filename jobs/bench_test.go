package jobs_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/internal/testenv"
	"github.com/tenantwall/tenantwall/jobs"
	"github.com/tenantwall/tenantwall/tenant"
)

type benchArgs struct {
	N int `json:"n"`
}

func (benchArgs) Kind() string { return "tenantwall_bench" }

type benchWorker struct {
	river.WorkerDefaults[benchArgs]
	left atomic.Int64
	done chan struct{}
}

func (w *benchWorker) Work(ctx context.Context, _ *river.Job[benchArgs]) error {
	// The same trivial work with and without the envelope: what differs
	// is the envelope's cost alone.
	_, _ = tenant.IDFromContext(ctx)
	if w.left.Add(-1) == 0 {
		close(w.done)
	}
	return nil
}

// benchThroughput inserts b.N jobs of four tenants, in batches of 100 from
// each tenant's context, and waits until all are worked: insert, fetch,
// work and completion, end to end. The worker does nothing, so the
// difference between envelope=off and envelope=on is the envelope's cost.
// Compare them with benchstat -col /envelope.
func benchThroughput[TTx any](b *testing.B, driver riverdriver.Driver[TTx], workers int) {
	ctx := context.Background()
	store := tenant.NewMemStore()
	var ts []tenant.Tenant
	for _, s := range []string{"acme", "globex", "initech", "umbrella"} {
		tt := tenant.Tenant{ID: tenant.NewID(), Slug: s, Name: s, Status: tenant.StatusActive}
		require.NoError(b, store.Create(ctx, tt))
		ts = append(ts, tt)
	}
	env, err := jobs.New(store)
	require.NoError(b, err)
	for _, mode := range []struct {
		name, queue string
		mw          []rivertype.Middleware
	}{{"envelope=off", "bare", nil}, {"envelope=on", "envelope", []rivertype.Middleware{env}}} {
		w := &benchWorker{}
		ws := river.NewWorkers()
		river.AddWorker(ws, w)
		client, err := river.NewClient(driver, &river.Config{
			Middleware:        mode.mw,
			Queues:            map[string]river.QueueConfig{mode.queue: {MaxWorkers: workers}},
			Workers:           ws,
			FetchCooldown:     time.Millisecond,
			FetchPollInterval: 5 * time.Millisecond,
			TestOnly:          true,
		})
		require.NoError(b, err)
		require.NoError(b, client.Start(ctx))
		b.Run(mode.name, func(b *testing.B) {
			w.left.Store(int64(b.N))
			w.done = make(chan struct{})
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i += 100 {
				tctx := tenant.NewContext(ctx, ts[(i/100)%len(ts)])
				many := make([]river.InsertManyParams, 0, 100)
				for j := i; j < min(i+100, b.N); j++ {
					many = append(many, river.InsertManyParams{Args: benchArgs{N: j}, InsertOpts: &river.InsertOpts{Queue: mode.queue}})
				}
				if _, err := client.InsertMany(tctx, many); err != nil {
					b.Fatal(err)
				}
			}
			select {
			case <-w.done:
			case <-time.After(5 * time.Minute):
				b.Fatalf("%d jobs left", w.left.Load())
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "jobs/s")
		})
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		require.NoError(b, client.Stop(sctx))
		cancel()
	}
}

func BenchmarkThroughput(b *testing.B) {
	b.Run("engine=sqlite", func(b *testing.B) {
		db := openSQLite(b)
		benchThroughput(b, riversqlite.New(db), 4)
	})
	b.Run("engine=postgres", func(b *testing.B) {
		u, _ := testenv.PostgresDB(b)
		pool, err := pgxpool.New(context.Background(), u)
		require.NoError(b, err)
		b.Cleanup(pool.Close)
		m, err := rivermigrate.New(riverpgxv5.New(pool), nil)
		require.NoError(b, err)
		_, err = m.Migrate(context.Background(), rivermigrate.DirectionUp, nil)
		require.NoError(b, err)
		benchThroughput(b, riverpgxv5.New(pool), 32)
	})
}

// BenchmarkEnvelope is the envelope's own cost per job, without a
// database: the insert side (metadata, unique key) and the work side
// (metadata read, store lookup, context).
func BenchmarkEnvelope(b *testing.B) {
	ctx := context.Background()
	store := tenant.NewMemStore()
	acme := tenant.Tenant{ID: tenant.NewID(), Slug: "acme", Name: "Acme", Status: tenant.StatusActive}
	require.NoError(b, store.Create(ctx, acme))
	env, err := jobs.New(store)
	require.NoError(b, err)
	tctx := tenant.NewContext(ctx, acme)
	b.Run("insert", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			p := &rivertype.JobInsertParams{Kind: "k", Metadata: []byte("{}"), UniqueKey: []byte("0123456789abcdef0123456789abcdef")}
			if _, err := env.InsertMany(tctx, []*rivertype.JobInsertParams{p}, func(context.Context) ([]*rivertype.JobInsertResult, error) { return nil, nil }); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("work", func(b *testing.B) {
		job := &rivertype.JobRow{ID: 1, Kind: "k", Metadata: []byte(`{"` + jobs.MetadataKey + `":"` + acme.ID + `"}`)}
		inner := func(ctx context.Context) error {
			if _, err := tenant.IDFromContext(ctx); err != nil {
				return err
			}
			return nil
		}
		b.ReportAllocs()
		for b.Loop() {
			if err := env.Work(ctx, job, inner); err != nil {
				b.Fatal(err)
			}
		}
	})
}
