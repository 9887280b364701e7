package ratelimit_test

import (
	"context"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/tenantwall/tenantwall/internal/testenv"
	"github.com/tenantwall/tenantwall/ratelimit"
	"github.com/tenantwall/tenantwall/tenant"
	"github.com/tenantwall/tenantwall/tenant/tenanttest"
)

// cpuTime is the CPU time this process has used (cpu-ns/op): on a shared
// machine it varies far less than wall time. For the Redis store it
// leaves out Redis's own work.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type nopWriter struct{ h http.Header }

func (w nopWriter) Header() http.Header       { return w.h }
func (nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (nopWriter) WriteHeader(int)             {}

// codeWriter remembers a status the limiter wrote: none is expected.
type codeWriter struct {
	nopWriter
	code int
}

func (w *codeWriter) WriteHeader(code int) { w.code = code }

// BenchmarkMiddleware is the limiter's cost per request: the middleware
// with a tenant and a per-user limit that are never reached, on each
// store, beside the bare handler. Requests cycle over 100 tenants.
func BenchmarkMiddleware(b *testing.B) {
	big := ratelimit.Limit{Rate: 1 << 20, Burst: 1 << 20, Period: time.Second}
	policy := func(context.Context, tenant.Tenant) (ratelimit.Policy, error) {
		return ratelimit.Policy{Tenant: big, User: big}, nil
	}
	reqs := make([]*http.Request, 100)
	for i := range reqs {
		r, _ := http.NewRequest("GET", "/", nil)
		reqs[i] = r.WithContext(tenant.NewContext(context.Background(), tenanttest.NewTenant("t")))
	}
	user := func(*http.Request) string { return "user-42" }
	noop := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	run := func(b *testing.B, h http.Handler) {
		w := &codeWriter{nopWriter: nopWriter{h: http.Header{}}}
		b.ReportAllocs()
		i := 0
		cpu := cpuTime()
		for b.Loop() {
			h.ServeHTTP(w, reqs[i%len(reqs)])
			i++
		}
		b.ReportMetric(float64(cpuTime()-cpu)/float64(i), "cpu-ns/op")
		if w.code != 0 {
			b.Fatalf("a request was answered %d", w.code)
		}
	}
	b.Run("store=none", func(b *testing.B) { run(b, noop) })
	b.Run("store=memory", func(b *testing.B) {
		s, err := ratelimit.NewMemoryStore()
		if err != nil {
			b.Fatal(err)
		}
		lim, err := ratelimit.New(s, policy, ratelimit.WithUser(user))
		if err != nil {
			b.Fatal(err)
		}
		run(b, lim.Middleware(noop))
	})
	b.Run("store=redis", func(b *testing.B) {
		s, err := ratelimit.NewRedisStore(testenv.Redis(b))
		if err != nil {
			b.Fatal(err)
		}
		lim, err := ratelimit.New(s, policy, ratelimit.WithUser(user))
		if err != nil {
			b.Fatal(err)
		}
		run(b, lim.Middleware(noop))
	})
}
