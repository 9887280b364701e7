package tenanttest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/tenantwall/tenantwall/tenant"
)

// RunStoreTests runs the conformance suite for a tenant.Store, each check
// as a subtest of t named after what it proves. newStore is called once per
// check and must return an empty store; register its teardown with
// t.Cleanup. A failure names the operation and the values.
//
// The checks: lookups by id, slug and domain; ErrNotFound for what is
// missing, hostile spellings included; ErrExists and ErrDomainTaken for
// what is taken; refusal of invalid tenants and domains with nothing
// stored; copy semantics; updates, deletes, list order; and exactly one
// winner among concurrent creates of a slug.
func RunStoreTests(t *testing.T, newStore func(t *testing.T) tenant.Store) {
	t.Helper()
	t.Run("a created tenant is found by id and by slug", func(t *testing.T) { testCreateAndFind(t, newStore(t)) })
	t.Run("missing tenants and domains answer ErrNotFound", func(t *testing.T) { testNotFound(t, newStore(t)) })
	t.Run("a duplicate id or slug is refused with ErrExists", func(t *testing.T) { testDuplicates(t, newStore(t)) })
	t.Run("invalid tenants are refused and nothing is stored", func(t *testing.T) { testInvalidTenants(t, newStore(t)) })
	t.Run("values are copies", func(t *testing.T) { testCopies(t, newStore(t)) })
	t.Run("update changes status, name and slug and frees the old slug", func(t *testing.T) { testUpdate(t, newStore(t)) })
	t.Run("update refuses a taken slug and an unknown tenant", func(t *testing.T) { testUpdateRefusals(t, newStore(t)) })
	t.Run("list returns every tenant ordered by slug", func(t *testing.T) { testList(t, newStore(t)) })
	t.Run("a domain resolves to its tenant with its status", func(t *testing.T) { testDomain(t, newStore(t)) })
	t.Run("a domain belongs to at most one tenant", func(t *testing.T) { testDomainOwner(t, newStore(t)) })
	t.Run("a removed domain passes to another tenant only as pending", func(t *testing.T) { testRemovedDomain(t, newStore(t)) })
	t.Run("invalid domains are refused", func(t *testing.T) { testInvalidDomains(t, newStore(t)) })
	t.Run("deleting a tenant deletes its domains", func(t *testing.T) { testDelete(t, newStore(t)) })
	t.Run("concurrent use is consistent", func(t *testing.T) { testConcurrentCreate(t, newStore(t)) })
}

// testCreateAndFind checks that a created tenant is found by id and by slug.
func testCreateAndFind(t *testing.T, s tenant.Store) {
	ctx := t.Context()
	a := create(t, s, "acme")
	byID, err := s.ByID(ctx, a.ID)
	must(t, err, "ByID(%q)", a.ID)
	sameTenant(t, a, byID)
	bySlug, err := s.BySlug(ctx, a.Slug)
	must(t, err, "BySlug(%q)", a.Slug)
	sameTenant(t, a, bySlug)
	if byID.CreatedAt.IsZero() {
		t.Errorf("ByID(%q).CreatedAt is zero; the store should stamp it", a.ID)
	}
}

// testNotFound checks that missing tenants and domains answer ErrNotFound.
func testNotFound(t *testing.T, s tenant.Store) {
	ctx := t.Context()
	create(t, s, "acme")
	for _, id := range []string{tenant.NewID(), "", "' OR 1=1 --", "\x00"} {
		if _, err := s.ByID(ctx, id); !errors.Is(err, tenant.ErrNotFound) {
			t.Errorf("ByID(%q) error = %v, want ErrNotFound", id, err)
		}
	}
	for _, slug := range []string{RandomSlug("nobody"), "", "ACME", "acme ", "acm%", "acme\x00"} {
		if _, err := s.BySlug(ctx, slug); !errors.Is(err, tenant.ErrNotFound) {
			t.Errorf("BySlug(%q) error = %v, want ErrNotFound", slug, err)
		}
	}
	for _, host := range []string{"nobody.example.com", "", "ACME.example.com", "%", "*.example.com"} {
		if _, _, err := s.ByDomain(ctx, host); !errors.Is(err, tenant.ErrNotFound) {
			t.Errorf("ByDomain(%q) error = %v, want ErrNotFound", host, err)
		}
	}
}

// testDuplicates checks that a duplicate id or slug is refused with ErrExists.
func testDuplicates(t *testing.T, s tenant.Store) {
	ctx := t.Context()
	a := create(t, s, "acme")
	sameID := NewTenant(RandomSlug("other"))
	sameID.ID = a.ID
	if err := s.Create(ctx, sameID); !errors.Is(err, tenant.ErrExists) {
		t.Errorf("Create with a taken id: error = %v, want ErrExists", err)
	}
	sameSlug := NewTenant(a.Slug)
	if err := s.Create(ctx, sameSlug); !errors.Is(err, tenant.ErrExists) {
		t.Errorf("Create with a taken slug: error = %v, want ErrExists", err)
	}
	got, err := s.ByID(ctx, a.ID)
	must(t, err, "ByID(%q)", a.ID)
	sameTenant(t, a, got)
}

// testInvalidTenants checks that invalid tenants are refused and nothing is stored.
func testInvalidTenants(t *testing.T, s tenant.Store) {
	ctx := t.Context()
	bad := map[string]tenant.Tenant{}
	add := func(name string, mut func(*tenant.Tenant)) {
		x := NewTenant(RandomSlug("bad"))
		mut(&x)
		bad[name] = x
	}
	add("empty id", func(x *tenant.Tenant) { x.ID = "" })
	add("uppercase id", func(x *tenant.Tenant) { x.ID = "3F0C9A52-6A7E-4C4E-9A35-2D1F0E8B7C61" })
	add("injection in id", func(x *tenant.Tenant) { x.ID = "x'); DROP TABLE tenants; --" })
	add("reserved slug", func(x *tenant.Tenant) { x.Slug = "www" })
	add("uppercase slug", func(x *tenant.Tenant) { x.Slug = "Acme" })
	add("dotted slug", func(x *tenant.Tenant) { x.Slug = "acme.evil" })
	add("punycode slug", func(x *tenant.Tenant) { x.Slug = "xn--80ak6aa92e" })
	add("empty name", func(x *tenant.Tenant) { x.Name = "" })
	add("unknown status", func(x *tenant.Tenant) { x.Status = "deleted" })
	add("script logo", func(x *tenant.Tenant) { x.Branding.LogoURL = "javascript:alert(1)" })
	add("bad colour", func(x *tenant.Tenant) { x.Branding.PrimaryColor = "red;}" })
	for name, x := range bad {
		if err := s.Create(ctx, x); err == nil {
			t.Errorf("Create(%s: %+v) succeeded, want an error", name, x)
		}
	}
	list, err := s.List(ctx)
	must(t, err, "List")
	if len(list) != 0 {
		t.Errorf("List after refused creates = %v, want empty", list)
	}
}

// testCopies checks that values are copies.
func testCopies(t *testing.T, s tenant.Store) {
	ctx := t.Context()
	a := create(t, s, "acme")
	got, err := s.ByID(ctx, a.ID)
	must(t, err, "ByID")
	got.Name = "changed by caller"
	again, err := s.ByID(ctx, a.ID)
	must(t, err, "ByID")
	if again.Name != a.Name {
		t.Errorf("changing a returned tenant changed the store: Name = %q", again.Name)
	}
}

// testUpdate checks that update changes status, name and slug and frees the old slug.
func testUpdate(t *testing.T, s tenant.Store) {
	ctx := t.Context()
	a := create(t, s, "acme")
	oldSlug := a.Slug
	a.Status = tenant.StatusSuspended
	a.Name = "Acme Renamed"
	a.Slug = RandomSlug("acme-new")
	must(t, s.Update(ctx, a), "Update")
	got, err := s.BySlug(ctx, a.Slug)
	must(t, err, "BySlug(new)")
	if got.Status != tenant.StatusSuspended || got.Name != "Acme Renamed" {
		t.Errorf("after Update got %+v", got)
	}
	if _, err := s.BySlug(ctx, oldSlug); !errors.Is(err, tenant.ErrNotFound) {
		t.Errorf("BySlug(old slug %q) error = %v, want ErrNotFound", oldSlug, err)
	}
	b := NewTenant(oldSlug)
	must(t, s.Create(ctx, b), "Create with the freed slug")
}

// testUpdateRefusals checks that update refuses a taken slug and an unknown tenant.
func testUpdateRefusals(t *testing.T, s tenant.Store) {
	ctx := t.Context()
	a := create(t, s, "acme")
	b := create(t, s, "globex")
	a2 := a
	a2.Slug = b.Slug
	if err := s.Update(ctx, a2); !errors.Is(err, tenant.ErrExists) {
		t.Errorf("Update to a taken slug: error = %v, want ErrExists", err)
	}
	if err := s.Update(ctx, NewTenant(RandomSlug("ghost"))); !errors.Is(err, tenant.ErrNotFound) {
		t.Errorf("Update of an unknown tenant: error = %v, want ErrNotFound", err)
	}
	got, err := s.BySlug(ctx, b.Slug)
	must(t, err, "BySlug")
	if got.ID != b.ID {
		t.Errorf("slug %q now belongs to %s, want %s", b.Slug, got.ID, b.ID)
	}
}

// testList checks that list returns every tenant ordered by slug.
func testList(t *testing.T, s tenant.Store) {
	ctx := t.Context()
	z := create(t, s, "zulu")
	a := create(t, s, "alpha")
	m := create(t, s, "mike")
	list, err := s.List(ctx)
	must(t, err, "List")
	want := []string{a.ID, m.ID, z.ID}
	if len(list) != len(want) {
		t.Fatalf("List returned %d tenants, want %d", len(list), len(want))
	}
	for i := range want {
		if list[i].ID != want[i] {
			t.Errorf("List[%d] = %s, want %s", i, list[i].Slug, want[i])
		}
	}
}

// testDomain checks that a domain resolves to its tenant with its status.
func testDomain(t *testing.T, s tenant.Store) {
	ctx := t.Context()
	a := create(t, s, "acme")
	host := RandomSlug("crm") + ".acme.test"
	must(t, s.PutDomain(ctx, tenant.Domain{Host: host, TenantID: a.ID, Status: tenant.DomainPending}), "PutDomain")
	got, d, err := s.ByDomain(ctx, host)
	must(t, err, "ByDomain(%q)", host)
	if got.ID != a.ID || d.TenantID != a.ID || d.Status != tenant.DomainPending || d.Host != host {
		t.Errorf("ByDomain(%q) = %v, %+v", host, got, d)
	}
	must(t, s.PutDomain(ctx, tenant.Domain{Host: host, TenantID: a.ID, Status: tenant.DomainActive}), "PutDomain(active)")
	_, d, err = s.ByDomain(ctx, host)
	must(t, err, "ByDomain")
	if d.Status != tenant.DomainActive {
		t.Errorf("status after update = %q, want active", d.Status)
	}
	if d.CreatedAt.IsZero() || d.UpdatedAt.Before(d.CreatedAt) {
		t.Errorf("timestamps CreatedAt=%v UpdatedAt=%v", d.CreatedAt, d.UpdatedAt)
	}
	ds, err := s.Domains(ctx, a.ID)
	must(t, err, "Domains")
	if len(ds) != 1 || ds[0].Host != host {
		t.Errorf("Domains(%s) = %+v", a.ID, ds)
	}
}

// testDomainOwner checks that a domain belongs to at most one tenant.
func testDomainOwner(t *testing.T, s tenant.Store) {
	ctx := t.Context()
	a := create(t, s, "acme")
	b := create(t, s, "globex")
	host := RandomSlug("shared") + ".example.com"
	must(t, s.PutDomain(ctx, tenant.Domain{Host: host, TenantID: a.ID, Status: tenant.DomainActive}), "PutDomain(A)")
	for _, st := range []tenant.DomainStatus{tenant.DomainPending, tenant.DomainActive} {
		if err := s.PutDomain(ctx, tenant.Domain{Host: host, TenantID: b.ID, Status: st}); !errors.Is(err, tenant.ErrDomainTaken) {
			t.Errorf("PutDomain(%s) for B of A's domain: error = %v, want ErrDomainTaken", st, err)
		}
	}
	got, _, err := s.ByDomain(ctx, host)
	must(t, err, "ByDomain")
	if got.ID != a.ID {
		t.Errorf("domain now resolves to %s, want A %s", got.ID, a.ID)
	}
}

// testRemovedDomain checks that a removed domain passes to another tenant only as pending.
func testRemovedDomain(t *testing.T, s tenant.Store) {
	ctx := t.Context()
	a := create(t, s, "acme")
	b := create(t, s, "globex")
	host := RandomSlug("old") + ".example.com"
	must(t, s.PutDomain(ctx, tenant.Domain{Host: host, TenantID: a.ID, Status: tenant.DomainActive}), "PutDomain(A)")
	must(t, s.PutDomain(ctx, tenant.Domain{Host: host, TenantID: a.ID, Status: tenant.DomainRemoved}), "remove")
	if err := s.PutDomain(ctx, tenant.Domain{Host: host, TenantID: b.ID, Status: tenant.DomainActive}); !errors.Is(err, tenant.ErrDomainTaken) {
		t.Errorf("B taking a removed domain straight to active: error = %v, want ErrDomainTaken", err)
	}
	must(t, s.PutDomain(ctx, tenant.Domain{Host: host, TenantID: b.ID, Status: tenant.DomainPending}), "B claims as pending")
	got, d, err := s.ByDomain(ctx, host)
	must(t, err, "ByDomain")
	if got.ID != b.ID || d.Status != tenant.DomainPending {
		t.Errorf("after claim: tenant %s status %s", got.ID, d.Status)
	}
}

// testInvalidDomains checks that invalid domains are refused.
func testInvalidDomains(t *testing.T, s tenant.Store) {
	ctx := t.Context()
	a := create(t, s, "acme")
	for _, host := range []string{"", "ACME.example.com", "acme.example.com.", "acme.example.com:443",
		"127.0.0.1", "[::1]", "a..b", "-a.com", "a_b.com", "*.example.com", "acme.example.com/evil",
		"ac me.com", "exa\x00mple.com", "ｅxample.com"} {
		if err := s.PutDomain(ctx, tenant.Domain{Host: host, TenantID: a.ID, Status: tenant.DomainActive}); err == nil {
			t.Errorf("PutDomain(%q) succeeded, want an error", host)
		}
	}
	host := RandomSlug("x") + ".example.com"
	if err := s.PutDomain(ctx, tenant.Domain{Host: host, TenantID: tenant.NewID(), Status: tenant.DomainActive}); !errors.Is(err, tenant.ErrNotFound) {
		t.Errorf("PutDomain for an unknown tenant: error = %v, want ErrNotFound", err)
	}
	if err := s.PutDomain(ctx, tenant.Domain{Host: host, TenantID: a.ID, Status: "live"}); err == nil {
		t.Errorf("PutDomain with an unknown status succeeded")
	}
	ds, err := s.Domains(ctx, a.ID)
	must(t, err, "Domains")
	if len(ds) != 0 {
		t.Errorf("Domains after refused puts = %+v, want none", ds)
	}
}

// testDelete checks that deleting a tenant deletes its domains.
func testDelete(t *testing.T, s tenant.Store) {
	ctx := t.Context()
	a := create(t, s, "acme")
	b := create(t, s, "globex")
	hostA := RandomSlug("a") + ".example.com"
	hostB := RandomSlug("b") + ".example.com"
	must(t, s.PutDomain(ctx, tenant.Domain{Host: hostA, TenantID: a.ID, Status: tenant.DomainActive}), "PutDomain")
	must(t, s.PutDomain(ctx, tenant.Domain{Host: hostB, TenantID: b.ID, Status: tenant.DomainActive}), "PutDomain")
	must(t, s.Delete(ctx, a.ID), "Delete")
	if _, err := s.ByID(ctx, a.ID); !errors.Is(err, tenant.ErrNotFound) {
		t.Errorf("ByID after Delete: error = %v, want ErrNotFound", err)
	}
	if _, _, err := s.ByDomain(ctx, hostA); !errors.Is(err, tenant.ErrNotFound) {
		t.Errorf("ByDomain of a deleted tenant's host: error = %v, want ErrNotFound", err)
	}
	if _, _, err := s.ByDomain(ctx, hostB); err != nil {
		t.Errorf("ByDomain of the other tenant's host: %v", err)
	}
	if err := s.Delete(ctx, a.ID); !errors.Is(err, tenant.ErrNotFound) {
		t.Errorf("second Delete: error = %v, want ErrNotFound", err)
	}
	must(t, s.DeleteDomain(ctx, hostB), "DeleteDomain")
	if err := s.DeleteDomain(ctx, hostB); !errors.Is(err, tenant.ErrNotFound) {
		t.Errorf("second DeleteDomain: error = %v, want ErrNotFound", err)
	}
}

// testConcurrentCreate checks that concurrent use is consistent.
func testConcurrentCreate(t *testing.T, s tenant.Store) {
	ctx := t.Context()
	const n = 16
	slug := RandomSlug("race")
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Create(ctx, NewTenant(slug))
			if _, err := s.BySlug(ctx, slug); err != nil && errs[i] == nil {
				errs[i] = fmt.Errorf("created but not found: %w", err)
			}
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, tenant.ErrExists):
			t.Errorf("concurrent Create: %v", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d of %d concurrent creates of slug %q succeeded, want exactly 1", ok, n, slug)
	}
}

func create(t *testing.T, s tenant.Store, prefix string) tenant.Tenant {
	t.Helper()
	x := NewTenant(RandomSlug(prefix))
	x.Branding = tenant.Branding{LogoURL: "https://cdn.example.com/" + x.Slug + ".png", PrimaryColor: "#0a7cff"}
	if err := s.Create(context.Background(), x); err != nil {
		t.Fatalf("Create(%s): %v", x.Slug, err)
	}
	return x
}

func must(t *testing.T, err error, format string, args ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf(format+": %v", append(args, err)...)
	}
}

func sameTenant(t *testing.T, want, got tenant.Tenant) {
	t.Helper()
	if got.ID != want.ID || got.Slug != want.Slug || got.Name != want.Name ||
		got.Status != want.Status || got.Branding != want.Branding {
		t.Errorf("got tenant %+v, want %+v", got, want)
	}
}
