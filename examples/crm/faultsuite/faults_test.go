package faultsuite

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/internal/testenv"
)

const (
	tenants  = 8
	clients  = 64
	warmFor  = 5 * time.Second // load before the fault, so that caches and pools are warm
	cleanFor = 2 * time.Second // successes only, for this long, is recovered
	// recoverWithin bounds the wait for recovery after a fault's end.
	recoverWithin = 30 * time.Second
	// staleWithin bounds how long after a write the dashboard may lag the
	// list once the fault is over.
	staleWithin = 5 * time.Second
)

// scenario is one fault. inject runs while the load runs; it returns when
// the fault is lifted.
type scenario struct {
	name string
	// flags are added to the server's command line.
	flags  []string
	inject func(t *testing.T, e *env, rec *recorder)
}

var scenarios = []scenario{
	{
		name: "Redis stopped for 3 s and restarted empty",
		inject: func(t *testing.T, e *env, _ *recorder) {
			e.redis.Kill()
			hold(3 * time.Second)
			e.redis.Start() // empty: the server never saves
		},
	},
	{
		name: "PostgreSQL restarted with pg_ctl restart -m fast",
		inject: func(t *testing.T, e *env, _ *recorder) {
			e.pg.Restart(t)
		},
	},
	{
		name: "PostgreSQL stalled for 5 s by SIGSTOP to the postmaster and every backend",
		// The stall outlasts the requests' deadline, so that requests
		// caught in it must be answered, truthfully, before it ends.
		flags: []string{"-request-timeout", "2s"},
		inject: func(t *testing.T, e *env, _ *recorder) {
			n := e.pg.SignalAll(syscall.SIGSTOP)
			require.Greater(t, n, 1, "SIGSTOP reached the postmaster and its children")
			hold(5 * time.Second)
			e.pg.SignalAll(syscall.SIGCONT)
		},
	},
	{
		name: "connection pools exhausted by 128 clients for 6 s",
		inject: func(t *testing.T, e *env, rec *recorder) {
			// The 64 more clients only create and list: every one of
			// their requests wants a connection for a while.
			extra := e.startLoad(rec, dbBound, 128-clients, clients)
			t.Cleanup(extra.stop)
			hold(6 * time.Second)
			extra.stop()
		},
	},
}

// TestFaults runs the reference server under load through each fault. See
// the package documentation for what it checks.
func TestFaults(t *testing.T) {
	if os.Getenv("TENANTWALL_FAULTS") != "1" {
		t.Skip("skipping the fault suite: set TENANTWALL_FAULTS=1 to run it (.ci/run does); it starts its own PostgreSQL cluster and Redis and takes about a minute")
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		missing(t, "redis-server", fmt.Errorf("%w; on Debian: apt-get install redis-server", err))
	}
	bin := buildCRM(t)
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) { runScenario(t, bin, sc) })
	}
}

// runScenario starts a fresh world, warms it with load, injects the fault,
// waits for recovery and checks everything the server answered.
func runScenario(t *testing.T, bin string, sc scenario) {
	e := newEnv(t, bin, tenants, sc.flags...)
	rec := newRecorder()
	backends := e.sampleBackends()
	t.Cleanup(func() { backends() })
	l := e.startLoad(rec, mixed, clients, 0)
	t.Cleanup(l.stop)

	start := time.Now()
	warm := testenv.Poll(4*warmFor, pollEvery, func() bool {
		if time.Since(start) < warmFor {
			return false
		}
		for _, f := range e.tenants {
			if len(f.ackedSnapshot()) < 20 {
				return false
			}
		}
		return true
	})
	require.True(t, warm, "the load did not warm up: fewer than 20 acknowledged leads for some tenant after %v\n%s", 4*warmFor, rec.summary())

	faultStart := time.Now()
	rec.startFault()
	sc.inject(t, e, rec)
	rec.endFault()
	held := time.Since(faultStart)
	recovered := testenv.Poll(recoverWithin, pollEvery, func() bool { return rec.cleanSince(cleanFor) })
	recovery := rec.recovery()
	drain := rec.drain()
	outage := "every answer a success"
	if from, to, ok := rec.outage(); ok {
		outage = fmt.Sprintf("answers other than successes from +%v to +%v", from.Round(time.Millisecond), to.Round(time.Millisecond))
	}
	l.stop()
	maxBackends := backends()

	e.checkAfter(rec)

	t.Logf("%s\n  fault held %v; %s; time to recover (fault's end to last non-success) %v; requests caught in the fault answered by +%v after its end; PostgreSQL client backends at most %d\n%s",
		sc.name, held.Round(time.Millisecond), outage, recovery.Round(time.Millisecond), drain.Round(time.Millisecond), maxBackends, rec.summary())
	assert.True(t, recovered, "the server did not answer only successes for %v within %v of the fault's end", cleanFor, recoverWithin)
	assert.Empty(t, rec.report(), "checks failed")
}

// checkAfter runs, with the load stopped, the checks that need a quiet
// server: every acknowledged lead is listed by its tenant, and after one
// more write the dashboard agrees with the list within staleWithin.
func (e *env) checkAfter(rec *recorder) {
	var wg sync.WaitGroup
	for _, f := range e.tenants {
		wg.Go(func() { e.checkTenantAfter(rec, f) })
	}
	wg.Wait()
}

// checkTenantAfter is checkAfter for one tenant.
func (e *env) checkTenantAfter(rec *recorder, f *tenantFixture) {
	a := e.do(context.Background(), f.host, f.token, http.MethodGet, "/api/leads/", nil)
	if e.judge(rec, f, "final list", http.StatusOK, a) {
		e.checkList(rec, f, a.body, f.ackedSnapshot())
	}
	// Read the dashboard (so that it is cached), write, then expect
	// the dashboard to count the write.
	a = e.do(context.Background(), f.host, f.token, http.MethodGet, "/api/dashboard/overview/?filter=all", nil)
	if e.judge(rec, f, "final dashboard", http.StatusOK, a) {
		e.checkDashboard(rec, f, a.body)
	}
	e.createLead(rec, f, f.slug+"/final")
	listed, counted := -1, -1
	agreed := testenv.Poll(staleWithin, pollEvery, func() bool {
		a := e.do(context.Background(), f.host, f.token, http.MethodGet, "/api/leads/", nil)
		if !e.judge(rec, f, "final list", http.StatusOK, a) {
			return false
		}
		listed = e.checkList(rec, f, a.body, nil)
		a = e.do(context.Background(), f.host, f.token, http.MethodGet, "/api/dashboard/overview/?filter=all", nil)
		if !e.judge(rec, f, "final dashboard", http.StatusOK, a) {
			return false
		}
		counted = e.checkDashboard(rec, f, a.body)
		return listed >= 0 && listed == counted
	})
	if !agreed {
		rec.violate(vStale, fmt.Sprintf("the dashboard of %s counts %d leads, its list holds %d, %v after a write once the fault was over",
			f.slug, counted, listed, staleWithin))
	}
}

// sampleBackends counts the cluster's client backends every 100 ms until
// the returned function is called, which returns the largest count.
func (e *env) sampleBackends() func() int {
	stop, done := make(chan struct{}), make(chan int)
	go func() {
		highest := 0
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				done <- highest
				return
			case <-tick.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			var n int
			// A stalled or restarting cluster does not answer: that
			// sample is skipped.
			if e.admin.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()`).Scan(&n) == nil && n > highest {
				highest = n
			}
			cancel()
		}
	}()
	var result *int
	return func() int {
		if result == nil {
			close(stop)
			n := <-done
			result = &n
		}
		return *result
	}
}
