package ratelimit

import (
	"context"
	"fmt"
	"time"
)

// Limit is a rate in the generic cell rate algorithm (GCRA): Rate events
// per Period on average, of which up to Burst may come at once. A client
// that waits Period/Rate between events is never refused; one that sends
// Burst at once must then wait Period/Rate for each further event.
type Limit struct {
	Rate   int           // events per Period, > 0
	Burst  int           // events allowed at once, > 0
	Period time.Duration // > 0
}

// IsZero reports whether l is the zero Limit, which Policy reads as "no
// limit of this kind".
func (l Limit) IsZero() bool { return l == Limit{} }

func (l Limit) check(n int) error {
	if l.Rate <= 0 || l.Burst <= 0 || l.Period <= 0 || n <= 0 {
		return fmt.Errorf("%w: %d per %v, burst %d, cost %d", ErrInvalidLimit, l.Rate, l.Period, l.Burst, n)
	}
	if l.Period/time.Duration(l.Rate) <= 0 {
		return fmt.Errorf("%w: %d per %v is more than one per nanosecond", ErrInvalidLimit, l.Rate, l.Period)
	}
	return nil
}

// emission is the GCRA's emission interval, Period/Rate.
func (l Limit) emission() time.Duration { return l.Period / time.Duration(l.Rate) }

// Result is one GCRA decision on one key.
type Result struct {
	// Allowed reports whether the events were counted.
	Allowed bool
	// Remaining is how many more events the key allows right now.
	Remaining int
	// RetryAfter is how long until the refused events would be allowed;
	// 0 when Allowed.
	RetryAfter time.Duration
	// ResetAfter is how long until the key is back to a full burst.
	ResetAfter time.Duration
}

// Store keeps GCRA state by key. The Limiter builds every key from the
// resolved tenant's ID; a Store never sees a key a client chose.
//
// AllowN counts n events on key under l if they fit and reports the
// decision; refused events are not counted. It returns ErrInvalidLimit for
// a Limit or n that is not positive, and an error wrapping ErrStore when
// the backend failed. Implementations must be safe for concurrent use and
// decide atomically per key (no two callers may both take the last
// event). ratelimittest.RunStoreTests checks one.
type Store interface {
	AllowN(ctx context.Context, key string, l Limit, n int) (Result, error)
}
