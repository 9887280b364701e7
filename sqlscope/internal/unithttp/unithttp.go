// Package unithttp ends a request's unit of work when its response status
// is decided: the commit rule shared by sqlscope.Units and
// pgxscope.Units.
package unithttp

import (
	"errors"
	"fmt"
	"net/http"
)

// ErrDiscarded is wrapped by the error a handler's Write gets after the
// unit failed to commit and the error handler answered instead.
var ErrDiscarded = errors.New("response discarded")

// ReadOnly reports whether requests of method get a read-only
// transaction: the safe methods.
func ReadOnly(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

// Serve runs next for r (whose context already carries the unit) and ends
// the unit with end before the final status goes out: a status below 400
// commits first and is sent only if the commit succeeded, otherwise
// onError answers with the commit's error; a status of 400 or more, or a
// panic, rolls back. A handler that writes nothing is committed before
// net/http's implicit 200. ended wraps the error Write returns after a
// failed commit.
func Serve(w http.ResponseWriter, r *http.Request, next http.Handler, end func(commit bool) error,
	onError func(http.ResponseWriter, *http.Request, error), ended error) {
	uw := &writer{ResponseWriter: w, r: r, end: end, onError: onError, ended: ended}
	done := false
	defer func() {
		if !done {
			_ = end(false) // a panic: roll back, let it go on
		}
	}()
	next.ServeHTTP(uw, r)
	done = true
	if !uw.decided {
		uw.decide(http.StatusOK, false)
	}
}

// writer ends the unit before the response status goes out.
type writer struct {
	http.ResponseWriter
	r       *http.Request
	end     func(commit bool) error
	onError func(http.ResponseWriter, *http.Request, error)
	ended   error
	decided bool
	failed  error // the commit's error, once onError answered
}

func (w *writer) WriteHeader(code int) {
	if w.decided || code < 200 {
		if w.failed == nil {
			w.ResponseWriter.WriteHeader(code)
		}
		return
	}
	w.decide(code, true)
}

// decide ends the unit for status code and, unless the commit failed,
// sends code when send is true.
func (w *writer) decide(code int, send bool) {
	w.decided = true
	if err := w.end(code < 400); err != nil {
		w.failed = err
		h := w.ResponseWriter.Header()
		for k := range h {
			delete(h, k)
		}
		w.onError(w.ResponseWriter, w.r, err)
		return
	}
	if send {
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *writer) Write(b []byte) (int, error) {
	if !w.decided {
		w.WriteHeader(http.StatusOK)
	}
	if w.failed != nil {
		return 0, fmt.Errorf("%w: %w: %w", w.ended, ErrDiscarded, w.failed)
	}
	return w.ResponseWriter.Write(b)
}

// Flush sends the status (ending the unit) and flushes.
func (w *writer) Flush() {
	if !w.decided {
		w.WriteHeader(http.StatusOK)
	}
	if w.failed == nil {
		_ = http.NewResponseController(w.ResponseWriter).Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *writer) Unwrap() http.ResponseWriter { return w.ResponseWriter }
