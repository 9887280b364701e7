package telemetry

import (
	"context"
	"io"
	"net/http"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// Middleware counts and times each request by tenant and status class
// (tenantwall.http.server.requests and .request.duration, unless
// WithDurationHistogram(false)), and puts the
// tenant's attributes (Attributes) on the request's span when one is
// recording.
//
// With resolve, prefer resolve.WithRequestObserver(m) to this
// middleware: resolve's Middleware then counts and times every request it
// serves the same way, on the clock reading and the cache entry its
// resolution already made, which saves a third to a half of this
// middleware's cost (BENCHMARKS.md). Use one or the other. Below a
// resolver given WithRequestObserver(m), Middleware passes requests
// through uncounted when it can see m's writer (every writer between
// unwraps, Unwrap); a writer that hides it, such as
// http.TimeoutHandler's, gets each request counted twice.
//
// Otherwise place it below whatever puts the resolved tenant in the
// context, such as resolve's Middleware without a RequestObserver:
// requests that resolve refuses (unknown hosts, forged
// headers, suspended tenants) never reach it and are counted instead, by
// kind, through the Auditor. A request without a tenant in its context is
// labelled NoTenant.
func (m *Metrics) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m.counting(w) {
			next.ServeHTTP(w, r)
			return
		}
		var start time.Duration
		if m.timed {
			start = time.Since(epoch)
		}
		m.serve(next, w, r, m.tenants.of(r.Context()), start)
	})
}

// ObserveTenant returns the series of the tenant with this ID, for resolve
// to keep beside the tenant in its lookup cache and hand to ServeTenant
// (resolve.RequestObserver, given with resolve.WithRequestObserver). The
// ID is checked as the context's is: only a canonical UUID, within the
// cap (WithMaxTenants), gets a label value of its own. resolve calls it
// for every active tenant its cache stores, whichever call filled it (a
// request, Resolve, CheckOrigin, a TLS handshake), so such a tenant takes
// a label value before it has a request counted.
func (m *Metrics) ObserveTenant(id string) any {
	return m.tenants.byID(id)
}

// ServeTenant serves req through next, counting and timing it as
// Middleware does, from arrived (when resolve's Middleware received the
// request, so a store lookup is timed too) and v, the value ObserveTenant
// gave for the tenant in req's context (resolve.RequestObserver). A v that
// is not one is ignored and the tenant looked up from the context.
func (m *Metrics) ServeTenant(next http.Handler, w http.ResponseWriter, req *http.Request, v any, arrived time.Time) {
	s, _ := v.(*series)
	if s == nil {
		s = m.tenants.of(req.Context())
	}
	m.serve(next, w, req, s, arrived.Sub(epoch))
}

// counting reports whether w is, or wraps, a writer of m's own: the
// request is already counted by m.
func (m *Metrics) counting(w http.ResponseWriter) bool {
	for range 16 { // a chain deeper than this is not one of ours
		switch u := w.(type) {
		case *statusWriter:
			if u.m == m {
				return true
			}
			w = u.ResponseWriter
		case interface{ Unwrap() http.ResponseWriter }:
			w = u.Unwrap()
		default:
			return false
		}
	}
	return false
}

// serve serves r through next for the tenant series s, and records it
// under the status written and the time since start (on epoch's clock).
func (m *Metrics) serve(next http.Handler, w http.ResponseWriter, r *http.Request, s *series, start time.Duration) {
	ctx := r.Context()
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		setSpanTenant(ctx, span)
	}
	sw := writers.Get().(*statusWriter)
	sw.ResponseWriter, sw.code, sw.m = w, 0, m
	defer func() {
		code, p := sw.code, recover()
		if code == 0 {
			code = http.StatusOK
			if p != nil {
				code = http.StatusInternalServerError // what net/http answers
			}
		}
		class := statusClass(code)
		if s.hist == nil { // else the histogram counts the request
			s.requests[class].Add(1)
		}
		if m.timed {
			m.recordDuration(ctx, s, class, time.Since(epoch)-start)
		}
		sw.ResponseWriter, sw.m = nil, nil
		writers.Put(sw)
		if p != nil {
			panic(p)
		}
	}()
	next.ServeHTTP(sw, r)
}

// recordDuration records d in the series' own histogram
// (WithDurationReader) or else through the SDK.
func (m *Metrics) recordDuration(ctx context.Context, s *series, class int, d time.Duration) {
	if s.hist != nil {
		s.hist[class].record(d)
		return
	}
	m.duration.Record(ctx, d.Seconds(), s.duration[class]...)
}

// epoch is the origin of Middleware's clock: time.Since of a time with a
// monotonic reading reads only the monotonic clock, where time.Now reads
// the wall clock too (about half the cost; see BenchmarkClock).
var epoch = time.Now()

func statusClass(code int) int {
	if code < 100 || code > 599 {
		return 0
	}
	return code / 100
}

// writers recycles statusWriters: net/http forbids using a ResponseWriter
// after ServeHTTP returns, so none is used once it is put back.
var writers = sync.Pool{New: func() any { return new(statusWriter) }}

// statusWriter remembers the first status code written. Unwrap lets
// http.ResponseController and WebSocket libraries reach the Flusher and
// Hijacker underneath.
type statusWriter struct {
	http.ResponseWriter
	code int
	m    *Metrics // who counts the request
}

func (w *statusWriter) WriteHeader(code int) {
	// Informational answers (103 Early Hints) may precede the final one;
	// 101 is final.
	if w.code == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush() // http.Flusher reports no error either
}

// ReadFrom keeps the underlying writer's io.ReaderFrom (sendfile for
// files served with io.Copy).
func (w *statusWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return io.Copy(w.ResponseWriter, r)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
