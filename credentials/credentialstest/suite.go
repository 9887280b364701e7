package credentialstest

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"gocloud.dev/secrets/localsecrets"

	"github.com/tenantwall/tenantwall/credentials"
	"github.com/tenantwall/tenantwall/tenant"
)

// RunStoreTests runs the suite. newStore is called once per subtest and
// registers its teardown with t.Cleanup. The store it returns may be
// shared with other subtests: the suite writes only under fresh random
// tenant IDs and never assumes the store is empty.
func RunStoreTests(t *testing.T, newStore func(t *testing.T) credentials.Store) {
	t.Helper()
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, credentials.Store)
	}{
		{"a stored row comes back exactly as it was put", testPutThenRows},
		{"rows come back newest version first", testNewestFirst},
		{"a tenant or provider without rows gets none and no error", testMissingIsEmpty},
		{"a stored version cannot be written again", testVersionExists},
		{"one tenant never gets another tenant's rows", testTenantsAreSeparate},
		{"one provider never gets another provider's rows", testProvidersAreSeparate},
		{"invalid rows are refused and nothing is stored", testInvalidRows},
		{"rows cannot be asked for with an invalid tenant ID or provider", testInvalidKeys},
		{"what the caller holds is not the store's", testCopies},
		{"concurrent puts of different rows all land", testConcurrentPuts},
		{"of concurrent puts of one version exactly one wins", testConcurrentSameVersion},
		{"a vault over the store rotates credentials", testVaultRotation},
		{"concurrent sets through a vault each get a version", testVaultConcurrentSet},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

// ciphertext returns printable ASCII like the Vault's, unique to its
// arguments so that a row returned to the wrong caller is recognised.
func ciphertext(tenantID, provider string, version int) []byte {
	return []byte(base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "%s|%s|%d", tenantID, provider, version)))
}

// created is a time with millisecond precision, which every store keeps.
var created = time.Date(2025, 3, 14, 15, 9, 26, 535_000_000, time.UTC)

func row(tenantID, provider string, version int) credentials.Row {
	return credentials.Row{TenantID: tenantID, Provider: provider, Version: version,
		Ciphertext: ciphertext(tenantID, provider, version), CreatedAt: created.Add(time.Duration(version) * time.Second)}
}

func put(t *testing.T, s credentials.Store, r credentials.Row) {
	t.Helper()
	if err := s.Put(context.Background(), r); err != nil {
		t.Fatalf("Put(%s, %s, v%d): %v", r.TenantID, r.Provider, r.Version, err)
	}
}

func rows(t *testing.T, s credentials.Store, tenantID, provider string) []credentials.Row {
	t.Helper()
	got, err := s.Rows(context.Background(), tenantID, provider)
	if err != nil {
		t.Fatalf("Rows(%s, %s): %v", tenantID, provider, err)
	}
	return got
}

// versions lists the versions of rs, checking on the way that each row is
// the one stored for tenantID and provider.
func versions(t *testing.T, rs []credentials.Row, tenantID, provider string) []int {
	t.Helper()
	out := make([]int, 0, len(rs))
	for _, r := range rs {
		if r.TenantID != tenantID || r.Provider != provider || !bytes.Equal(r.Ciphertext, ciphertext(tenantID, provider, r.Version)) {
			t.Errorf("Rows(%s, %s) returned a row of %s, %s v%d with ciphertext %q", tenantID, provider, r.TenantID, r.Provider, r.Version, r.Ciphertext)
		}
		out = append(out, r.Version)
	}
	return out
}

func sameInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func testPutThenRows(t *testing.T, s credentials.Store) {
	id := tenant.NewID()
	want := row(id, "openai", 1)
	put(t, s, want)
	got := rows(t, s, id, "openai")
	if len(got) != 1 {
		t.Fatalf("Rows = %d rows, want 1", len(got))
	}
	g := got[0]
	if g.TenantID != want.TenantID || g.Provider != want.Provider || g.Version != want.Version ||
		!bytes.Equal(g.Ciphertext, want.Ciphertext) || !g.CreatedAt.Equal(want.CreatedAt) {
		t.Errorf("Rows = %+v, want %+v", g, want)
	}

	// A ciphertext of every byte the Vault can produce, and a long one.
	long := credentials.Row{TenantID: id, Provider: "long", Version: 1, CreatedAt: created,
		Ciphertext: []byte(strings.Repeat("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=", 1024))}
	put(t, s, long)
	if got := rows(t, s, id, "long"); len(got) != 1 || !bytes.Equal(got[0].Ciphertext, long.Ciphertext) {
		t.Errorf("a %d-byte ciphertext did not come back intact", len(long.Ciphertext))
	}
}

func testNewestFirst(t *testing.T, s credentials.Store) {
	id := tenant.NewID()
	// Out of order, and across a digit boundary so that a store sorting
	// versions as text ("10" < "9") is caught.
	for _, v := range []int{2, 10, 1, 9, 100, 11} {
		put(t, s, row(id, "openai", v))
	}
	got := versions(t, rows(t, s, id, "openai"), id, "openai")
	if want := []int{100, 11, 10, 9, 2, 1}; !sameInts(got, want) {
		t.Errorf("Rows versions = %v, want %v", got, want)
	}
}

func testMissingIsEmpty(t *testing.T, s credentials.Store) {
	id := tenant.NewID()
	put(t, s, row(id, "openai", 1))
	for _, k := range []struct{ tenantID, provider string }{
		{tenant.NewID(), "openai"},
		{id, "elevenlabs"},
		{tenant.NewID(), "elevenlabs"},
	} {
		got, err := s.Rows(context.Background(), k.tenantID, k.provider)
		if err != nil || len(got) != 0 {
			t.Errorf("Rows(%s, %s) = %d rows, %v; want none and no error", k.tenantID, k.provider, len(got), err)
		}
	}
}

func testVersionExists(t *testing.T, s credentials.Store) {
	ctx := context.Background()
	id := tenant.NewID()
	first := row(id, "openai", 1)
	put(t, s, first)
	again := first
	again.Ciphertext = ciphertext(tenant.NewID(), "openai", 1)
	if err := s.Put(ctx, again); !errors.Is(err, credentials.ErrVersionExists) {
		t.Errorf("Put of an existing version: error = %v, want ErrVersionExists", err)
	}
	got := rows(t, s, id, "openai")
	if len(got) != 1 || !bytes.Equal(got[0].Ciphertext, first.Ciphertext) {
		t.Errorf("after a refused overwrite Rows = %+v, want the first row only", got)
	}
	// The same version of another tenant or provider is another row.
	put(t, s, row(tenant.NewID(), "openai", 1))
	put(t, s, row(id, "smartflo", 1))
}

func testTenantsAreSeparate(t *testing.T, s credentials.Store) {
	ids := make([]string, 6)
	for i := range ids {
		ids[i] = tenant.NewID()
		for v := 1; v <= i+1; v++ {
			put(t, s, row(ids[i], "openai", v))
		}
	}
	// Tenant IDs that differ from a real one in the last hex digit only.
	near := []byte(ids[0])
	if near[35] == '0' {
		near[35] = '1'
	} else {
		near[35] = '0'
	}
	for i, id := range ids {
		got := versions(t, rows(t, s, id, "openai"), id, "openai")
		if len(got) != i+1 {
			t.Errorf("tenant %d has %d rows, want %d", i, len(got), i+1)
		}
	}
	if got := rows(t, s, string(near), "openai"); len(got) != 0 {
		t.Errorf("a tenant ID one digit away from another's got %d rows", len(got))
	}
}

func testProvidersAreSeparate(t *testing.T, s credentials.Store) {
	id := tenant.NewID()
	put(t, s, row(id, "openai", 1))
	put(t, s, row(id, "openai", 2))
	// Names a store matching by prefix, pattern (LIKE's _ and %), case
	// folding or trimming would confuse with "openai".
	for _, p := range []string{"open_i", "open", "openai2", "openai-", "openai_", "_penai", "o_____", "penai", "openaiopenai"} {
		if got := rows(t, s, id, p); len(got) != 0 {
			t.Errorf("Rows(%s) = %d rows of openai", p, len(got))
		}
	}
	put(t, s, row(id, "open_i", 1))
	if got := versions(t, rows(t, s, id, "openai"), id, "openai"); !sameInts(got, []int{2, 1}) {
		t.Errorf("openai versions = %v after open_i was stored, want [2 1]", got)
	}
	if got := versions(t, rows(t, s, id, "open_i"), id, "open_i"); !sameInts(got, []int{1}) {
		t.Errorf("open_i versions = %v, want [1]", got)
	}
}

// badIDs are tenant IDs a store must refuse: not canonical lowercase
// UUIDs, including ones that equal or contain a real ID.
func badIDs(real string) []string {
	return []string{
		"", "acme", strings.ToUpper(real), real + " ", " " + real, real + "\x00", real[:35], real + "0",
		"' OR '1'='1", real[:8] + "%", "%", "_", "*", "00000000-0000-0000-0000-00000000000g",
		strings.Replace(real, "-", "_", 1), strings.Replace(real, "-", "", -1),
	}
}

// badProviders are provider names a store must refuse.
var badProviders = []string{
	"", "OpenAI", "open ai", " openai", "openai ", "open%", "%", "open*", "openai\x00", "openai\n",
	"open.ai", "open/ai", "../openai", "opena\u0131", "ｏｐｅｎａｉ", "openai' OR '1'='1", strings.Repeat("a", 41),
}

func testInvalidRows(t *testing.T, s credentials.Store) {
	ctx := context.Background()
	id := tenant.NewID()
	for _, bad := range badIDs(id) {
		r := row(bad, "openai", 1)
		if err := s.Put(ctx, r); !errors.Is(err, credentials.ErrRow) || !errors.Is(err, tenant.ErrInvalidID) {
			t.Errorf("Put with tenant ID %q: error = %v, want ErrRow and tenant.ErrInvalidID", bad, err)
		}
	}
	for _, bad := range badProviders {
		if err := s.Put(ctx, row(id, bad, 1)); !errors.Is(err, credentials.ErrRow) || !errors.Is(err, credentials.ErrProvider) {
			t.Errorf("Put with provider %q: error = %v, want ErrRow and ErrProvider", bad, err)
		}
	}
	for _, v := range []int{0, -1, -1 << 31} {
		if err := s.Put(ctx, row(id, "openai", v)); !errors.Is(err, credentials.ErrRow) {
			t.Errorf("Put of version %d: error = %v, want ErrRow", v, err)
		}
	}
	for _, ct := range []string{"", " ", "YWJj ZGVm", "YWJj\x00", "YWJj\n", "YWJj\t", "\xff\xfe", "sk-caf\u00e9", "\x7f"} {
		r := row(id, "openai", 1)
		r.Ciphertext = []byte(ct)
		if err := s.Put(ctx, r); !errors.Is(err, credentials.ErrRow) {
			t.Errorf("Put of ciphertext %q: error = %v, want ErrRow", ct, err)
		}
	}
	if got := rows(t, s, id, "openai"); len(got) != 0 {
		t.Errorf("refused Puts stored %d rows", len(got))
	}
	// After all that, version 1 is still free.
	put(t, s, row(id, "openai", 1))
}

func testInvalidKeys(t *testing.T, s credentials.Store) {
	ctx := context.Background()
	id := tenant.NewID()
	put(t, s, row(id, "openai", 1))
	for _, bad := range badIDs(id) {
		if got, err := s.Rows(ctx, bad, "openai"); !errors.Is(err, tenant.ErrInvalidID) || len(got) != 0 {
			t.Errorf("Rows(%q, openai) = %d rows, %v; want tenant.ErrInvalidID", bad, len(got), err)
		}
	}
	for _, bad := range badProviders {
		if got, err := s.Rows(ctx, id, bad); !errors.Is(err, credentials.ErrProvider) || len(got) != 0 {
			t.Errorf("Rows(%s, %q) = %d rows, %v; want ErrProvider", id, bad, len(got), err)
		}
	}
}

func testCopies(t *testing.T, s credentials.Store) {
	id := tenant.NewID()
	r := row(id, "openai", 1)
	want := bytes.Clone(r.Ciphertext)
	put(t, s, r)
	r.Ciphertext[0] ^= 1 // the caller reuses its buffer
	got := rows(t, s, id, "openai")
	if len(got) != 1 || !bytes.Equal(got[0].Ciphertext, want) {
		t.Fatalf("changing the Put buffer changed the stored row: %+v", got)
	}
	got[0].Ciphertext[0] ^= 1 // the caller edits what it read
	got[0].Version = 7
	again := rows(t, s, id, "openai")
	if len(again) != 1 || again[0].Version != 1 || !bytes.Equal(again[0].Ciphertext, want) {
		t.Errorf("changing a returned row changed the stored one: %+v", again)
	}
}

func testConcurrentPuts(t *testing.T, s credentials.Store) {
	const tenants, perTenant = 8, 5
	ids := make([]string, tenants)
	for i := range ids {
		ids[i] = tenant.NewID()
	}
	var wg sync.WaitGroup
	errs := make(chan error, tenants*perTenant*2)
	for _, id := range ids {
		for v := 1; v <= perTenant; v++ {
			for _, p := range []string{"openai", "elevenlabs"} {
				wg.Go(func() {
					if err := s.Put(context.Background(), row(id, p, v)); err != nil {
						errs <- fmt.Errorf("Put(%s, %s, v%d): %w", id, p, v, err)
					}
				})
			}
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, id := range ids {
		for _, p := range []string{"openai", "elevenlabs"} {
			if got := versions(t, rows(t, s, id, p), id, p); !sameInts(got, []int{5, 4, 3, 2, 1}) {
				t.Errorf("Rows(%s, %s) versions = %v, want [5 4 3 2 1]", id, p, got)
			}
		}
	}
}

func testConcurrentSameVersion(t *testing.T, s credentials.Store) {
	const writers = 12
	id := tenant.NewID()
	var wg sync.WaitGroup
	results := make([]error, writers)
	for w := range writers {
		wg.Go(func() {
			r := row(id, "openai", 1)
			r.Ciphertext = fmt.Appendf(nil, "writer%d", w)
			results[w] = s.Put(context.Background(), r)
		})
	}
	wg.Wait()
	winner := -1
	for w, err := range results {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("writers %d and %d both stored version 1", winner, w)
		case err == nil:
			winner = w
		case !errors.Is(err, credentials.ErrVersionExists):
			t.Errorf("writer %d: error = %v, want nil or ErrVersionExists", w, err)
		}
	}
	if winner < 0 {
		t.Fatal("no writer stored version 1")
	}
	got := rows(t, s, id, "openai")
	if len(got) != 1 || string(got[0].Ciphertext) != fmt.Sprintf("writer%d", winner) {
		t.Errorf("Rows = %+v, want the one row of writer %d", got, winner)
	}
}

func newVault(t *testing.T, s credentials.Store) *credentials.Vault {
	t.Helper()
	key, err := localsecrets.NewRandomKey()
	if err != nil {
		t.Fatal(err)
	}
	keeper := localsecrets.NewKeeper(key)
	t.Cleanup(func() { keeper.Close() })
	v, err := credentials.New(keeper, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func tenantContext() context.Context {
	return tenant.NewContext(context.Background(), tenant.Tenant{ID: tenant.NewID(), Slug: "t"})
}

func testVaultRotation(t *testing.T, s credentials.Store) {
	v := newVault(t, s)
	a, b := tenantContext(), tenantContext()
	for i := 1; i <= 3; i++ {
		got, err := v.Set(a, "openai", fmt.Sprintf("sk-a-%d", i))
		if err != nil || got != i {
			t.Fatalf("Set #%d = %d, %v; want version %d", i, got, err, i)
		}
	}
	if got, err := v.Get(a, "openai"); err != nil || got.Reveal() != "sk-a-3" || got.Version != 3 {
		t.Errorf("Get = %q v%d, %v; want the newest, sk-a-3 v3", got.Reveal(), got.Version, err)
	}
	for i := 1; i <= 3; i++ {
		if got, err := v.GetVersion(a, "openai", i); err != nil || got.Reveal() != fmt.Sprintf("sk-a-%d", i) {
			t.Errorf("GetVersion(%d) = %q, %v", i, got.Reveal(), err)
		}
	}
	if _, err := v.GetVersion(a, "openai", 4); !errors.Is(err, credentials.ErrNoCredential) {
		t.Errorf("GetVersion(4) error = %v, want ErrNoCredential", err)
	}
	if _, err := v.Get(b, "openai"); !errors.Is(err, credentials.ErrNoCredential) {
		t.Errorf("another tenant's Get: error = %v, want ErrNoCredential", err)
	}
	if got, err := v.Set(b, "openai", "sk-b"); err != nil || got != 1 {
		t.Errorf("another tenant's first Set = %d, %v; want version 1", got, err)
	}
}

func testVaultConcurrentSet(t *testing.T, s credentials.Store) {
	const writers = 8
	v := newVault(t, s)
	ctx := tenantContext()
	var wg sync.WaitGroup
	got := make([]int, writers)
	errs := make([]error, writers)
	for w := range writers {
		wg.Go(func() { got[w], errs[w] = v.Set(ctx, "openai", fmt.Sprintf("sk-%d", w)) })
	}
	wg.Wait()
	seen := map[int]int{}
	for w := range writers {
		if errs[w] != nil {
			t.Errorf("Set by writer %d: %v", w, errs[w])
			continue
		}
		if other, dup := seen[got[w]]; dup {
			t.Errorf("writers %d and %d both got version %d", other, w, got[w])
		}
		seen[got[w]] = w
		if sec, err := v.GetVersion(ctx, "openai", got[w]); err != nil || sec.Reveal() != fmt.Sprintf("sk-%d", w) {
			t.Errorf("GetVersion(%d) = %q, %v; want writer %d's value", got[w], sec.Reveal(), err, w)
		}
	}
}
