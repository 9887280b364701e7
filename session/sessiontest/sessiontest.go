package sessiontest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tenantwall/tenantwall/session"
	"github.com/tenantwall/tenantwall/tenant"
)

// RunStoreTests runs the suite. newStore is called once per subtest; the
// store it returns may be shared with other tests, so the suite uses
// fresh random tenant IDs and token hashes.
func RunStoreTests(t *testing.T, newStore func(t *testing.T) session.Store) {
	t.Helper()
	cases := []struct {
		name string
		fn   func(t *testing.T, s session.Store)
	}{
		{"a created record is found as created", testCreateFind},
		{"a missing record is not found and not an error", testMissing},
		{"records expire", testExpiry},
		{"delete removes one record", testDelete},
		{"delete user removes that user's sessions on that tenant only", testDeleteUser},
		{"delete tenant removes that tenant's sessions only", testDeleteTenant},
		{"update replaces a live record", testUpdate},
		{"create refuses a hash in use and keeps its record", testCreateRefusesHashInUse},
		{"update of a hash never created writes nothing", testUpdateMissing},
		{"update never revives a deleted record", testUpdateAfterDelete},
		{"update never revives an expired record", testUpdateAfterExpiry},
		{"updates racing a delete never revive the record", testUpdatesRacingDelete},
		{"a ttl of zero or less never makes a lasting record", testNonPositiveTTL},
		{"concurrent use", testConcurrentUse},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.fn(t, newStore(t)) })
	}
}

var ctx = context.Background()

func record(tenantID, user string) session.Record {
	now := time.Now().UTC().Truncate(time.Millisecond)
	return session.Record{TenantID: tenantID, UserID: user, Values: map[string]string{"role": "admin"},
		Created: now, LastSeen: now, Deadline: now.Add(time.Hour)}
}

// newHash returns a fresh token hash in the form the Manager gives stores
// (64 lowercase hex digits): the SHA-256 of a random value.
func newHash() string {
	sum := sha256.Sum256([]byte(tenant.NewID()))
	return hex.EncodeToString(sum[:])
}

func testCreateFind(t *testing.T, s session.Store) {
	h, r := newHash(), record(tenant.NewID(), "u1")
	must(t, s.Create(ctx, h, r, time.Minute))
	got, found, err := s.Find(ctx, h)
	must(t, err)
	if !found || got.TenantID != r.TenantID || got.UserID != "u1" || got.Values["role"] != "admin" ||
		!got.Deadline.Equal(r.Deadline) || !got.Created.Equal(r.Created) {
		t.Fatalf("Find = %+v, %v; want %+v", got, found, r)
	}
	t.Cleanup(func() { _ = s.DeleteTenant(ctx, r.TenantID) })
}

func testMissing(t *testing.T, s session.Store) {
	for _, h := range []string{newHash(), "", "../../x", "*", "\x00"} {
		_, found, err := s.Find(ctx, h)
		if err != nil || found {
			t.Errorf("Find(%q) = found %v, err %v", h, found, err)
		}
	}
}

// gone waits, by polling the store, for a record to expire.
func gone(t *testing.T, s session.Store, h string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if _, found, err := s.Find(ctx, h); err != nil {
			t.Fatal(err)
		} else if !found {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("record still found long after its TTL")
}

func testExpiry(t *testing.T, s session.Store) {
	h := newHash()
	must(t, s.Create(ctx, h, record(tenant.NewID(), "u"), 50*time.Millisecond))
	gone(t, s, h)
}

func testDelete(t *testing.T, s session.Store) {
	h1, h2 := newHash(), newHash()
	id := tenant.NewID()
	must(t, s.Create(ctx, h1, record(id, "u"), time.Minute))
	must(t, s.Create(ctx, h2, record(id, "u"), time.Minute))
	must(t, s.Delete(ctx, h1))
	must(t, s.Delete(ctx, h1)) // deleting twice is fine
	if _, found, _ := s.Find(ctx, h1); found {
		t.Error("deleted record found")
	}
	if _, found, _ := s.Find(ctx, h2); !found {
		t.Error("the other record went too")
	}
	must(t, s.DeleteTenant(ctx, id))
}

func testDeleteUser(t *testing.T, s session.Store) {
	a, b := tenant.NewID(), tenant.NewID()
	hs := map[string]session.Record{newHash(): record(a, "alice"), newHash(): record(a, "alice"), newHash(): record(a, "bob"), newHash(): record(b, "alice")}
	for h, r := range hs {
		must(t, s.Create(ctx, h, r, time.Minute))
	}
	must(t, s.DeleteUser(ctx, a, "alice"))
	for h, r := range hs {
		_, found, err := s.Find(ctx, h)
		must(t, err)
		want := !(r.TenantID == a && r.UserID == "alice")
		if found != want {
			t.Errorf("session of %s on %s: found %v, want %v", r.UserID, r.TenantID[:8], found, want)
		}
	}
	must(t, s.DeleteTenant(ctx, a))
	must(t, s.DeleteTenant(ctx, b))
}

func testDeleteTenant(t *testing.T, s session.Store) {
	a, b := tenant.NewID(), tenant.NewID()
	ha, hb := newHash(), newHash()
	must(t, s.Create(ctx, ha, record(a, "u"), time.Minute))
	must(t, s.Create(ctx, hb, record(b, "u"), time.Minute))
	must(t, s.DeleteTenant(ctx, a))
	if _, found, _ := s.Find(ctx, ha); found {
		t.Error("a session of the deleted tenant remains")
	}
	if _, found, _ := s.Find(ctx, hb); !found {
		t.Error("another tenant's session was deleted")
	}
	must(t, s.DeleteTenant(ctx, b))
}

func testUpdate(t *testing.T, s session.Store) {
	h, r := newHash(), record(tenant.NewID(), "u")
	must(t, s.Create(ctx, h, r, time.Minute))
	r.Values = map[string]string{"role": "viewer"}
	found, err := s.Update(ctx, h, r, time.Minute)
	must(t, err)
	if !found {
		t.Fatal("Update of a live record reported it missing")
	}
	got, _, err := s.Find(ctx, h)
	must(t, err)
	if got.Values["role"] != "viewer" {
		t.Errorf("Values = %v", got.Values)
	}
	// The updated record is still one DeleteUser can reach.
	must(t, s.DeleteUser(ctx, r.TenantID, "u"))
	if _, found, _ := s.Find(ctx, h); found {
		t.Error("an updated record escaped DeleteUser")
	}
}

func testCreateRefusesHashInUse(t *testing.T, s session.Store) {
	h, first := newHash(), record(tenant.NewID(), "owner")
	must(t, s.Create(ctx, h, first, time.Minute))
	other := record(tenant.NewID(), "intruder")
	if err := s.Create(ctx, h, other, time.Minute); !errors.Is(err, session.ErrHashInUse) {
		t.Fatalf("second Create = %v, want ErrHashInUse", err)
	}
	got, found, err := s.Find(ctx, h)
	must(t, err)
	if !found || got.TenantID != first.TenantID || got.UserID != "owner" {
		t.Errorf("Find = %+v, %v; the first record must stay", got, found)
	}
	must(t, s.DeleteTenant(ctx, first.TenantID))
	must(t, s.DeleteTenant(ctx, other.TenantID))
}

func testUpdateMissing(t *testing.T, s session.Store) {
	h := newHash()
	found, err := s.Update(ctx, h, record(tenant.NewID(), "u"), time.Minute)
	must(t, err)
	if found {
		t.Error("Update of a hash never created reported it found")
	}
	if _, found, _ := s.Find(ctx, h); found {
		t.Error("Update created a record")
	}
}

func testUpdateAfterDelete(t *testing.T, s session.Store) {
	deletions := []struct {
		name string
		del  func(h string, r session.Record) error
	}{
		{"Delete", func(h string, _ session.Record) error { return s.Delete(ctx, h) }},
		{"DeleteUser", func(_ string, r session.Record) error { return s.DeleteUser(ctx, r.TenantID, r.UserID) }},
		{"DeleteTenant", func(_ string, r session.Record) error { return s.DeleteTenant(ctx, r.TenantID) }},
	}
	for _, d := range deletions {
		h, r := newHash(), record(tenant.NewID(), "u")
		must(t, s.Create(ctx, h, r, time.Minute))
		must(t, d.del(h, r))
		r.Values = map[string]string{"role": "written after " + d.name}
		found, err := s.Update(ctx, h, r, time.Minute)
		must(t, err)
		if found {
			t.Errorf("after %s, Update reported the record found", d.name)
		}
		if got, found, _ := s.Find(ctx, h); found {
			t.Errorf("after %s, Update revived the record: %+v", d.name, got)
		}
	}
}

func testUpdateAfterExpiry(t *testing.T, s session.Store) {
	h, r := newHash(), record(tenant.NewID(), "u")
	must(t, s.Create(ctx, h, r, 50*time.Millisecond))
	gone(t, s, h)
	found, err := s.Update(ctx, h, r, time.Minute)
	must(t, err)
	if found {
		t.Error("Update of an expired record reported it found")
	}
	if _, found, _ := s.Find(ctx, h); found {
		t.Error("Update revived an expired record")
	}
	must(t, s.DeleteTenant(ctx, r.TenantID))
}

func testUpdatesRacingDelete(t *testing.T, s session.Store) {
	for range 5 {
		h, r := newHash(), record(tenant.NewID(), "u")
		must(t, s.Create(ctx, h, r, time.Minute))
		start := make(chan struct{})
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for range 10 {
					if _, err := s.Update(ctx, h, r, time.Minute); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if err := s.Delete(ctx, h); err != nil {
				t.Error(err)
			}
		}()
		close(start)
		wg.Wait()
		// Whatever the interleaving, the delete is final.
		if _, found, _ := s.Find(ctx, h); found {
			t.Fatal("an Update racing Delete revived the record")
		}
		must(t, s.DeleteTenant(ctx, r.TenantID))
	}
}

func testNonPositiveTTL(t *testing.T, s session.Store) {
	for _, ttl := range []time.Duration{0, -time.Second} {
		r := record(tenant.NewID(), "u")
		h := newHash()
		if err := s.Create(ctx, h, r, ttl); err == nil {
			if _, found, _ := s.Find(ctx, h); found {
				t.Errorf("Create with ttl %v made a live record", ttl)
			}
		}
		h = newHash()
		must(t, s.Create(ctx, h, r, time.Minute))
		_, err := s.Update(ctx, h, r, ttl)
		must(t, err)
		if _, found, _ := s.Find(ctx, h); found {
			t.Errorf("Update with ttl %v left a live record", ttl)
		}
		must(t, s.DeleteTenant(ctx, r.TenantID))
	}
}

func testConcurrentUse(t *testing.T, s session.Store) {
	id := tenant.NewID()
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := newHash()
			if err := s.Create(ctx, h, record(id, "u"), time.Minute); err != nil {
				t.Error(err)
				return
			}
			if _, found, err := s.Find(ctx, h); err != nil || !found {
				t.Errorf("goroutine %d: found %v, err %v", i, found, err)
			}
			if found, err := s.Update(ctx, h, record(id, "u"), time.Minute); err != nil || !found {
				t.Errorf("goroutine %d: update found %v, err %v", i, found, err)
			}
		}()
	}
	wg.Wait()
	must(t, s.DeleteTenant(ctx, id))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
