package lifecycle

import (
	"fmt"
	"time"
)

// Progress is the state of a long operation, given to WithProgress's
// function.
type Progress struct {
	Op         string        `json:"op"`   // "export", "import" or "delete"
	Step       string        `json:"step"` // the table or store being worked on
	Rows       int64         `json:"rows"` // rows done so far
	RowsTotal  int64         `json:"rows_total"`
	Bytes      int64         `json:"bytes"` // archive bytes written or read so far
	BytesTotal int64         `json:"bytes_total,omitempty"`
	Elapsed    time.Duration `json:"elapsed_ns"`
	Done       bool          `json:"done"`
}

// Rate returns rows and bytes per second so far.
func (p Progress) Rate() (rows, bytes float64) {
	s := p.Elapsed.Seconds()
	if s <= 0 {
		return 0, 0
	}
	return float64(p.Rows) / s, float64(p.Bytes) / s
}

// Remaining estimates the time left from the rate so far: by bytes when
// their total is known, else by rows; zero when it cannot tell.
func (p Progress) Remaining() time.Duration {
	frac := 0.0
	switch {
	case p.BytesTotal > 0 && p.Bytes > 0:
		frac = float64(p.Bytes) / float64(p.BytesTotal)
	case p.RowsTotal > 0 && p.Rows > 0:
		frac = float64(p.Rows) / float64(p.RowsTotal)
	}
	if frac <= 0 || frac >= 1 {
		return 0
	}
	return time.Duration(float64(p.Elapsed) * (1 - frac) / frac)
}

// String is a one-line report: "export leads: 120000/1000000 rows,
// 31.2 MB, 95000 rows/s, 24.6 MB/s, 9s left".
func (p Progress) String() string {
	r, b := p.Rate()
	s := fmt.Sprintf("%s %s: %d/%d rows, %.1f MB, %.0f rows/s, %.1f MB/s", p.Op, p.Step, p.Rows, p.RowsTotal,
		float64(p.Bytes)/1e6, r, b/1e6)
	if p.Done {
		return s + fmt.Sprintf(", done in %s", p.Elapsed.Round(time.Millisecond))
	}
	if left := p.Remaining(); left > 0 {
		s += fmt.Sprintf(", %s left", left.Round(time.Second))
	}
	return s
}

// tracker reports Progress at most every interval.
type tracker struct {
	fn    func(Progress)
	p     Progress
	start time.Time
	last  time.Time
	now   func() time.Time
}

const progressInterval = 250 * time.Millisecond

func (m *Manager) track(op string, rowsTotal, bytesTotal int64) *tracker {
	t := &tracker{fn: m.progress, now: m.now}
	t.start = t.now()
	t.p = Progress{Op: op, RowsTotal: rowsTotal, BytesTotal: bytesTotal}
	return t
}

func (t *tracker) step(name string) {
	t.p.Step = name
	t.report(true)
}

func (t *tracker) add(rows, bytes int64) {
	t.p.Rows += rows
	t.p.Bytes += bytes
	t.report(false)
}

func (t *tracker) report(force bool) {
	if t.fn == nil {
		return
	}
	now := t.now()
	if !force && now.Sub(t.last) < progressInterval {
		return
	}
	t.last = now
	t.p.Elapsed = now.Sub(t.start)
	t.fn(t.p)
}

func (t *tracker) done() Progress {
	t.p.Elapsed = t.now().Sub(t.start)
	t.p.Done = true
	if t.fn != nil {
		t.fn(t.p)
	}
	return t.p
}
