package tenanttest

import (
	"bytes"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// ConcurrentOptions tunes CheckConcurrent. The zero value is ready.
type ConcurrentOptions struct {
	Goroutines int           // per tenant; default 8
	Duration   time.Duration // at most; default 2s
	Requests   int           // per goroutine at most; default 200
}

// withDefaults returns o with its documented defaults filled in.
func (o ConcurrentOptions) withDefaults() ConcurrentOptions {
	if o.Goroutines <= 0 {
		o.Goroutines = 8
	}
	if o.Duration <= 0 {
		o.Duration = 2 * time.Second
	}
	if o.Requests <= 0 {
		o.Requests = 200
	}
	return o
}

// ConcurrentReport is what CheckConcurrent measured.
type ConcurrentReport struct {
	Requests   int64         // requests sent
	Leaks      int64         // answers that carried another tenant's marker
	Errors     int64         // requests that failed or answered 5xx
	Elapsed    time.Duration // wall time of the load
	Throughput float64       // requests per second
}

// CheckConcurrent drives the suite's Endpoints with every tenant ×
// o.Goroutines goroutines at once, each creating, listing and reading
// items that carry its tenant's markers, and checks every answer for
// another tenant's markers: state shared between requests (a global, a
// pooled connection that keeps a tenant setting, a cache) shows up here
// and not in CheckHTTPIsolation's one-at-a-time requests. It runs as the
// check "no answer under concurrent load carries another tenant's data";
// any leak, and any failed request, is a failure. It returns what it
// measured, throughput included.
func CheckConcurrent(t T, s HTTPSuite, o ConcurrentOptions) ConcurrentReport {
	t.Helper()
	h, stop, ok := start(t, s)
	if !ok {
		return ConcurrentReport{}
	}
	defer stop()
	var rep ConcurrentReport
	run(t, "no answer under concurrent load carries another tenant's data", func(t T) {
		rep = testConcurrent(t, h, o.withDefaults())
	})
	return rep
}

func testConcurrent(t T, h *harness, o ConcurrentOptions) ConcurrentReport {
	t.Helper()
	if len(h.endpoints) == 0 {
		t.Errorf("tenanttest: CheckConcurrent needs an Endpoint")
		return ConcurrentReport{}
	}
	// Each tenant's markers start with a tag that is random per run, so
	// that no tenant's tag can be a prefix of another's, whatever their
	// names ("acme" and "acme-eu").
	tags := make([]string, len(h.tenants))
	for i, tn := range h.tenants {
		tags[i] = marker(tn.Name) + "-"
	}
	var (
		rep       ConcurrentReport
		mu        sync.Mutex
		firstLeak string
		wg        sync.WaitGroup
	)
	leak := func(what string) {
		atomic.AddInt64(&rep.Leaks, 1)
		mu.Lock()
		if firstLeak == "" {
			firstLeak = what
		}
		mu.Unlock()
	}
	deadline := time.Now().Add(o.Duration)
	start := time.Now()
	for i, tn := range h.tenants {
		for g := range o.Goroutines {
			wg.Go(func() {
				w := worker{
					c: h.srv.Client(tn), ep: h.endpoints[g%len(h.endpoints)], me: i,
					tags: tags, tenants: h.tenants, rep: &rep, leak: leak,
				}
				w.drive(o.Requests, deadline)
			})
		}
	}
	wg.Wait()
	rep.Elapsed = time.Since(start)
	rep.Throughput = float64(rep.Requests) / rep.Elapsed.Seconds()
	t.Logf("tenanttest: %d requests by %d tenants × %d goroutines in %v: %.0f req/s, %d leaks, %d errors",
		rep.Requests, len(h.tenants), o.Goroutines, rep.Elapsed.Round(time.Millisecond), rep.Throughput, rep.Leaks, rep.Errors)
	if rep.Leaks > 0 {
		t.Errorf("tenanttest: %d responses leaked another tenant's data; first: %s", rep.Leaks, firstLeak)
	}
	if rep.Errors > 0 {
		t.Errorf("tenanttest: %d requests failed", rep.Errors)
	}
	return rep
}

// worker is one goroutine of CheckConcurrent, sending as tenant me.
type worker struct {
	c       *Client
	ep      Endpoint
	me      int
	tags    []string
	tenants []HTTPTenant
	rep     *ConcurrentReport
	leak    func(what string)
}

// drive sends up to n requests before the deadline: one create and read
// of an own item for every two lists.
func (w worker) drive(n int, deadline time.Time) {
	for i := 0; i < n && time.Now().Before(deadline); i++ {
		var res Response
		var err error
		if i%3 == 0 {
			var id string
			id, _, err = createItem(w.c, w.ep, w.tags[w.me]+randomHex())
			if err == nil {
				res, err = w.c.Do("GET", w.ep.Item(id), nil, "")
			}
		} else {
			res, err = w.c.Do("GET", w.ep.Collection, nil, "")
		}
		atomic.AddInt64(&w.rep.Requests, 1)
		if err != nil || res.Code >= 500 {
			atomic.AddInt64(&w.rep.Errors, 1)
			continue
		}
		w.check(res.Body)
	}
}

// check counts a leak for every other tenant whose tag is in body.
func (w worker) check(body []byte) {
	for j, tag := range w.tags {
		if j != w.me && bytes.Contains(body, []byte(tag)) {
			w.leak(fmt.Sprintf("%s as %s saw a marker of %s", w.ep.Name, w.tenants[w.me].Name, w.tenants[j].Name))
		}
	}
}
