// Package sessiontest is the conformance suite for session.Store
// implementations. This repository runs it against session.MemStore and
// session.RedisStore; run it against your own store.
package sessiontest

import (
	"context"
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
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	rec := func(tenantID, user string) session.Record {
		return session.Record{TenantID: tenantID, UserID: user, Values: map[string]string{"role": "admin"},
			Created: now, LastSeen: now, Deadline: now.Add(time.Hour)}
	}
	hash := func() string { return session.Hash(tenant.NewID()) }
	cases := []struct {
		name string
		fn   func(t *testing.T, s session.Store)
	}{
		{"a saved record is found as saved", func(t *testing.T, s session.Store) {
			h, r := hash(), rec(tenant.NewID(), "u1")
			must(t, s.Save(ctx, h, r, time.Minute))
			got, found, err := s.Find(ctx, h)
			must(t, err)
			if !found || got.TenantID != r.TenantID || got.UserID != "u1" || got.Values["role"] != "admin" ||
				!got.Deadline.Equal(r.Deadline) || !got.Created.Equal(r.Created) {
				t.Fatalf("Find = %+v, %v; want %+v", got, found, r)
			}
		}},
		{"a missing record is not found and not an error", func(t *testing.T, s session.Store) {
			for _, h := range []string{hash(), "", "../../x", "*", "\x00"} {
				_, found, err := s.Find(ctx, h)
				if err != nil || found {
					t.Errorf("Find(%q) = found %v, err %v", h, found, err)
				}
			}
		}},
		{"records expire", func(t *testing.T, s session.Store) {
			h := hash()
			must(t, s.Save(ctx, h, rec(tenant.NewID(), "u"), 50*time.Millisecond))
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
		}},
		{"delete removes one record", func(t *testing.T, s session.Store) {
			h1, h2 := hash(), hash()
			id := tenant.NewID()
			must(t, s.Save(ctx, h1, rec(id, "u"), time.Minute))
			must(t, s.Save(ctx, h2, rec(id, "u"), time.Minute))
			must(t, s.Delete(ctx, h1))
			must(t, s.Delete(ctx, h1)) // deleting twice is fine
			if _, found, _ := s.Find(ctx, h1); found {
				t.Error("deleted record found")
			}
			if _, found, _ := s.Find(ctx, h2); !found {
				t.Error("the other record went too")
			}
		}},
		{"delete user removes that user's sessions on that tenant only", func(t *testing.T, s session.Store) {
			a, b := tenant.NewID(), tenant.NewID()
			hs := map[string]session.Record{hash(): rec(a, "alice"), hash(): rec(a, "alice"), hash(): rec(a, "bob"), hash(): rec(b, "alice")}
			for h, r := range hs {
				must(t, s.Save(ctx, h, r, time.Minute))
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
		}},
		{"delete tenant removes that tenant's sessions only", func(t *testing.T, s session.Store) {
			a, b := tenant.NewID(), tenant.NewID()
			ha, hb := hash(), hash()
			must(t, s.Save(ctx, ha, rec(a, "u"), time.Minute))
			must(t, s.Save(ctx, hb, rec(b, "u"), time.Minute))
			must(t, s.DeleteTenant(ctx, a))
			if _, found, _ := s.Find(ctx, ha); found {
				t.Error("a session of the deleted tenant remains")
			}
			if _, found, _ := s.Find(ctx, hb); !found {
				t.Error("another tenant's session was deleted")
			}
		}},
		{"saving again replaces the record", func(t *testing.T, s session.Store) {
			h, r := hash(), rec(tenant.NewID(), "u")
			must(t, s.Save(ctx, h, r, time.Minute))
			r.Values = map[string]string{"role": "viewer"}
			must(t, s.Save(ctx, h, r, time.Minute))
			got, _, err := s.Find(ctx, h)
			must(t, err)
			if got.Values["role"] != "viewer" {
				t.Errorf("Values = %v", got.Values)
			}
		}},
		{"concurrent use", func(t *testing.T, s session.Store) {
			id := tenant.NewID()
			var wg sync.WaitGroup
			for i := range 20 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					h := hash()
					if err := s.Save(ctx, h, rec(id, "u"), time.Minute); err != nil {
						t.Error(err)
						return
					}
					if _, found, err := s.Find(ctx, h); err != nil || !found {
						t.Errorf("goroutine %d: found %v, err %v", i, found, err)
					}
				}()
			}
			wg.Wait()
			must(t, s.DeleteTenant(ctx, id))
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.fn(t, newStore(t)) })
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
