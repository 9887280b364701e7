package ratelimittest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenantwall/tenantwall/ratelimit"
)

// RunStoreTests checks that a Store makes GCRA decisions: bursts, refusals
// that are not counted, refill, costs, independent keys, atomic decisions
// under concurrency and refused invalid limits. newStore returns a Store
// for one subtest; keys are random, so a shared backend may be used. The
// tests take about two seconds: some wait for a refill.
func RunStoreTests(t *testing.T, newStore func(t *testing.T) ratelimit.Store) {
	t.Run("a burst is allowed and the next event refused", func(t *testing.T) { testBurst(t, newStore(t)) })
	t.Run("refused events are not counted", func(t *testing.T) { testRefusedNotCounted(t, newStore(t)) })
	t.Run("an event is allowed again after RetryAfter", func(t *testing.T) { testRefill(t, newStore(t)) })
	t.Run("a cost spends that many events", func(t *testing.T) { testCost(t, newStore(t)) })
	t.Run("keys do not share state", func(t *testing.T) { testKeys(t, newStore(t)) })
	t.Run("concurrent callers never take more than the burst", func(t *testing.T) { testConcurrent(t, newStore(t)) })
	t.Run("invalid limits are refused", func(t *testing.T) { testInvalid(t, newStore(t)) })
}

func key(prefix string) string {
	var b [8]byte
	rand.Read(b[:])
	return "ratelimittest:" + prefix + ":" + hex.EncodeToString(b[:])
}

// slow is a limit that refills nothing during a test: one event per minute.
var slow = ratelimit.Limit{Rate: 10, Burst: 5, Period: 10 * time.Minute}

func allow(t *testing.T, s ratelimit.Store, k string, l ratelimit.Limit, n int) ratelimit.Result {
	t.Helper()
	r, err := s.AllowN(context.Background(), k, l, n)
	if err != nil {
		t.Fatalf("AllowN(%q, %+v, %d): %v", k, l, n, err)
	}
	return r
}

// remainingNear accepts got == want or want-1: Redis computes in float
// seconds, so a quotient that is exactly an integer may round down.
func remainingNear(t *testing.T, got, want int, what string) {
	t.Helper()
	if got != want && got != want-1 {
		t.Errorf("%s: Remaining = %d, want %d", what, got, want)
	}
}

func testBurst(t *testing.T, s ratelimit.Store) {
	k := key("burst")
	for i := range slow.Burst {
		r := allow(t, s, k, slow, 1)
		if !r.Allowed {
			t.Fatalf("event %d of a burst of %d refused", i+1, slow.Burst)
		}
		remainingNear(t, r.Remaining, slow.Burst-1-i, "in the burst")
		if r.RetryAfter != 0 {
			t.Errorf("allowed event with RetryAfter %v", r.RetryAfter)
		}
	}
	r := allow(t, s, k, slow, 1)
	if r.Allowed {
		t.Fatal("the event after the burst was allowed")
	}
	emission := slow.Period / time.Duration(slow.Rate)
	if r.Remaining != 0 || r.RetryAfter <= 0 || r.RetryAfter > emission {
		t.Errorf("refusal: Remaining %d, RetryAfter %v; want 0 and in (0, %v]", r.Remaining, r.RetryAfter, emission)
	}
	full := time.Duration(slow.Burst) * emission
	if r.ResetAfter <= full-emission-time.Second || r.ResetAfter > full {
		t.Errorf("refusal: ResetAfter %v, want about %v", r.ResetAfter, full)
	}
}

func testRefusedNotCounted(t *testing.T, s ratelimit.Store) {
	l := ratelimit.Limit{Rate: 5, Burst: 1, Period: time.Second} // one per 200ms
	k := key("refused")
	if !allow(t, s, k, l, 1).Allowed {
		t.Fatal("first event refused")
	}
	var last ratelimit.Result
	for range 20 {
		last = allow(t, s, k, l, 1)
		if last.Allowed {
			t.Skip("the machine is too slow for a 200ms window")
		}
	}
	time.Sleep(last.RetryAfter + 20*time.Millisecond)
	if !allow(t, s, k, l, 1).Allowed {
		t.Fatal("refused events were counted: still refused after RetryAfter")
	}
}

func testRefill(t *testing.T, s ratelimit.Store) {
	l := ratelimit.Limit{Rate: 4, Burst: 2, Period: time.Second} // one per 250ms
	k := key("refill")
	allow(t, s, k, l, 1)
	allow(t, s, k, l, 1)
	r := allow(t, s, k, l, 1)
	if r.Allowed {
		t.Skip("the machine is too slow for a 250ms window")
	}
	time.Sleep(r.RetryAfter + 20*time.Millisecond)
	if !allow(t, s, k, l, 1).Allowed {
		t.Fatalf("refused after waiting RetryAfter (%v)", r.RetryAfter)
	}
}

func testCost(t *testing.T, s ratelimit.Store) {
	k := key("cost")
	r := allow(t, s, k, slow, 3)
	if !r.Allowed {
		t.Fatal("a cost within the burst was refused")
	}
	remainingNear(t, r.Remaining, slow.Burst-3, "after a cost of 3")
	if allow(t, s, k, slow, 3).Allowed {
		t.Fatal("a cost over what remains was allowed")
	}
	if !allow(t, s, k, slow, 2).Allowed {
		t.Fatal("the refused cost was counted")
	}
	if allow(t, s, key("cost-over"), slow, slow.Burst+1).Allowed {
		t.Fatal("a cost over the burst was allowed")
	}
}

func testKeys(t *testing.T, s ratelimit.Store) {
	a, b := key("a"), key("b")
	for range slow.Burst {
		allow(t, s, a, slow, 1)
	}
	if allow(t, s, a, slow, 1).Allowed {
		t.Fatal("key a was not exhausted")
	}
	r := allow(t, s, b, slow, 1)
	if !r.Allowed {
		t.Fatal("exhausting key a refused key b")
	}
	remainingNear(t, r.Remaining, slow.Burst-1, "key b")
}

func testConcurrent(t *testing.T, s ratelimit.Store) {
	l := ratelimit.Limit{Rate: 1, Burst: 20, Period: 30 * time.Second} // no refill during the test, keys gone in minutes
	k := key("concurrent")
	var allowed atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for range 100 {
		wg.Go(func() {
			r, err := s.AllowN(context.Background(), k, l, 1)
			if err != nil {
				errs <- err
				return
			}
			if r.Allowed {
				allowed.Add(1)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := allowed.Load(); got != int64(l.Burst) {
		t.Fatalf("100 concurrent events on a burst of %d: %d allowed", l.Burst, got)
	}
}

func testInvalid(t *testing.T, s ratelimit.Store) {
	for _, tc := range []struct {
		l ratelimit.Limit
		n int
	}{
		{ratelimit.Limit{}, 1},
		{ratelimit.Limit{Rate: 0, Burst: 1, Period: time.Second}, 1},
		{ratelimit.Limit{Rate: 1, Burst: 0, Period: time.Second}, 1},
		{ratelimit.Limit{Rate: 1, Burst: 1, Period: 0}, 1},
		{ratelimit.Limit{Rate: -1, Burst: 1, Period: time.Second}, 1},
		{ratelimit.Limit{Rate: 1, Burst: 1, Period: time.Second}, 0},
		{ratelimit.Limit{Rate: 1, Burst: 1, Period: time.Second}, -3},
	} {
		_, err := s.AllowN(context.Background(), key("invalid"), tc.l, tc.n)
		if !errors.Is(err, ratelimit.ErrInvalidLimit) {
			t.Errorf("AllowN(%+v, %d): %v, want ErrInvalidLimit", tc.l, tc.n, err)
		}
	}
}
