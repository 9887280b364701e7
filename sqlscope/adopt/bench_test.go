package adopt_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/internal/testenv"
	"github.com/tenantwall/tenantwall/sqlscope/adopt"
)

// BenchmarkLoadDuringAdoption measures what adopting the 101,000-row
// fixture does to the application's load (4 writers, 2 readers, as in
// TestAdoptUnderLoad): committed transactions per second and the p99 and
// maximum latency of the insert transactions in the 3 seconds before the
// migration and during it, the migration's duration, and how long the
// row level security step of contacts (60,000 rows; its non-empty CHECK
// scans under the exclusive lock) held it. Run it with -benchtime=1x
// -count=10 and compare the runs with benchstat: each iteration is one
// migration of a fresh database.
func BenchmarkLoadDuringAdoption(b *testing.B) {
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		u, db := testenv.PostgresDB(b)
		legacy(b, db, 1_000, 60_000, 40_000)
		_, app := appRole(b, db, u)
		s, err := adopt.Inspect(ctx, db, "public")
		require.NoError(b, err)
		plan, err := adopt.New(s, assignments(), adopt.WithBatchSize(2000), adopt.WithLockTimeout(500*time.Millisecond))
		require.NoError(b, err)
		w := &workload{app: app, accounts: 1_000, contacts: 60_000, deals: map[int64]int64{}, renamed: map[int64]string{}}
		b.StartTimer()

		stop := w.start(4, 2)
		time.Sleep(3 * time.Second)
		ops0 := w.writes.Load() + w.reads.Load()
		w.mu.Lock()
		n0 := len(w.lat)
		w.mu.Unlock()
		began := time.Now()
		var rlsStep time.Duration
		_, err = adopt.Run(ctx, db, plan, adopt.WithProgress(func(p adopt.Progress) {
			if p.Done && p.Phase == adopt.PhaseRLS && p.Table == "contacts" {
				rlsStep = p.Elapsed
			}
		}))
		during := time.Since(began)
		ops1 := w.writes.Load() + w.reads.Load()
		w.mu.Lock()
		n1 := len(w.lat)
		w.mu.Unlock()
		stop()
		require.NoError(b, err)
		require.Empty(b, w.errs)

		before := slices.Clone(w.lat[:n0])
		dur := slices.Clone(w.lat[n0:n1])
		b.ReportMetric(float64(ops0)/3, "tx/s-before")
		b.ReportMetric(float64(ops1-ops0)/during.Seconds(), "tx/s-during")
		b.ReportMetric(ms(pct(before, 99)), "p99-ms-before")
		b.ReportMetric(ms(pct(dur, 99)), "p99-ms-during")
		b.ReportMetric(ms(pct(before, 100)), "max-ms-before")
		b.ReportMetric(ms(pct(dur, 100)), "max-ms-during")
		b.ReportMetric(during.Seconds(), "migration-s")
		b.ReportMetric(ms(rlsStep), "rls-step-ms")
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	i := (len(d)*p + 99) / 100
	return d[min(max(i-1, 0), len(d)-1)]
}
