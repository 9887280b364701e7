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
// Place it below resolve's Middleware, which puts the resolved tenant in
// the context: requests that resolve refuses (unknown hosts, forged
// headers, suspended tenants) never reach it and are counted instead, by
// kind, through the Auditor. A request without a tenant in its context is
// labelled NoTenant.
func (m *Metrics) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var start time.Duration
		if m.timed {
			start = time.Since(epoch)
		}
		ctx := r.Context()
		s := m.tenants.of(ctx)
		if span := trace.SpanFromContext(ctx); span.IsRecording() {
			setSpanTenant(ctx, span)
		}
		sw := writers.Get().(*statusWriter)
		sw.ResponseWriter, sw.code = w, 0
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
			sw.ResponseWriter = nil
			writers.Put(sw)
			if p != nil {
				panic(p)
			}
		}()
		next.ServeHTTP(sw, r)
	})
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
