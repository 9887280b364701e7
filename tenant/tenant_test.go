package tenant_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/tenant"
	"github.com/tenantwall/tenantwall/tenant/tenanttest"
)

func TestValidateSlug(t *testing.T) {
	valid := []string{"a", "acme", "acme-corp", "a1", "1a", "0", strings.Repeat("a", 63), "x-n--y", "xn-a"}
	for _, s := range valid {
		assert.NoError(t, tenant.ValidateSlug(s), "slug %q", s)
	}
	invalid := map[string]string{
		"":                        "empty",
		strings.Repeat("a", 64):   "longer than 63",
		"Acme":                    "uppercase",
		"-acme":                   "leading or trailing hyphen",
		"acme-":                   "leading or trailing hyphen",
		"acme.corp":               "character '.'",
		"acme_corp":               "character '_'",
		"acme corp":               "character ' '",
		"acme\x00":                "character '\\x00'",
		"acmé":                    "character",
		"ａcme":                    "character",
		"xn--acme":                "xn--",
		"www":                     "reserved",
		"admin":                   "reserved",
		"api":                     "reserved",
		"acme/../globex":          "character '/'",
		"acme%2e":                 "character '%'",
		"*":                       "character '*'",
		"acme'; drop table t; --": "character '\\''",
	}
	for s, want := range invalid {
		err := tenant.ValidateSlug(s)
		if assert.Error(t, err, "slug %q", s) {
			assert.ErrorIs(t, err, tenant.ErrInvalidSlug, "slug %q", s)
			assert.Contains(t, err.Error(), want, "slug %q", s)
		}
	}
}

func TestReserveExtendsTheList(t *testing.T) {
	name := "partners-" + strings.ToLower(tenant.NewID()[:8])
	require.NoError(t, tenant.ValidateSlug(name))
	tenant.Reserve(strings.ToUpper(name))
	err := tenant.ValidateSlug(name)
	assert.ErrorIs(t, err, tenant.ErrReservedSlug)
	assert.True(t, tenant.IsReserved(name))
}

func TestIDs(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := tenant.NewID()
		require.NoError(t, tenant.ValidateID(id))
		assert.Equal(t, byte('4'), id[14], "version nibble of %s", id)
		assert.Contains(t, "89ab", string(id[19]), "variant of %s", id)
		assert.False(t, seen[id], "duplicate id %s", id)
		seen[id] = true
	}
	for _, bad := range []string{"", "3F0C9A52-6A7E-4C4E-9A35-2D1F0E8B7C61", "3f0c9a526a7e4c4e9a352d1f0e8b7c61",
		"{3f0c9a52-6a7e-4c4e-9a35-2d1f0e8b7c61}", "3f0c9a52-6a7e-4c4e-9a35-2d1f0e8b7c6g", "3f0c9a52_6a7e-4c4e-9a35-2d1f0e8b7c61",
		"3f0c9a52-6a7e-4c4e-9a35-2d1f0e8b7c61\x00", "acme"} {
		assert.ErrorIs(t, tenant.ValidateID(bad), tenant.ErrInvalidID, "id %q", bad)
	}
}

func TestValidateDomain(t *testing.T) {
	for _, h := range []string{"example.com", "acme.app.example.com", "localhost", "a-b.c", "xn--bcher-kva.example",
		"1password.com", "a.b.c.d.e.f", strings.Repeat("a", 63) + ".com"} {
		assert.NoError(t, tenant.ValidateDomain(h), "host %q", h)
	}
	for _, h := range []string{"", ".", "example.com.", ".example.com", "a..b", "Example.com", "-a.com", "a-.com",
		"127.0.0.1", "1.2.3.4", "0x7f.1", "123", "[::1]", "::1", "exa mple.com", "a_b.com", "a.com:80",
		"ex\x00ample.com", "exämple.com", "*.example.com", strings.Repeat("a", 64) + ".com",
		strings.Repeat("abcdefghi.", 26) + "com"} {
		assert.ErrorIs(t, tenant.ValidateDomain(h), tenant.ErrInvalidDomain, "host %q", h)
	}
}

func FuzzValidateDomain(f *testing.F) {
	for _, s := range []string{"example.com", "a..b", "1.2.3.4", "xn--bcher-kva.example", "A.COM", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		if tenant.ValidateDomain(h) != nil {
			return
		}
		if strings.ToLower(h) != h || strings.HasSuffix(h, ".") || len(h) > 253 {
			t.Fatalf("accepted non-canonical host %q", h)
		}
		for _, c := range []byte(h) {
			if !(c == '.' || c == '-' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z') {
				t.Fatalf("accepted host %q with byte %q", h, c)
			}
		}
	})
}

func FuzzValidateSlug(f *testing.F) {
	for _, s := range []string{"acme", "www", "-a", "xn--a", "A"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if tenant.ValidateSlug(s) != nil {
			return
		}
		// A valid slug is always a valid DNS label under any base domain.
		if err := tenant.ValidateDomain(s + ".example.com"); err != nil {
			t.Fatalf("slug %q makes an invalid host: %v", s, err)
		}
		if tenant.IsReserved(s) || strings.HasPrefix(s, "xn--") {
			t.Fatalf("accepted %q", s)
		}
	})
}

func TestTenantValidate(t *testing.T) {
	ok := tenant.Tenant{ID: tenant.NewID(), Slug: "acme", Name: "Acme", Status: tenant.StatusActive,
		Branding: tenant.Branding{LogoURL: "https://cdn.example.com/a.png", PrimaryColor: "#0A7cff"}}
	require.NoError(t, ok.Validate())
	cases := map[string]func(*tenant.Tenant){
		"logo with javascript scheme": func(x *tenant.Tenant) { x.Branding.LogoURL = "javascript:alert(1)" },
		"logo with a quote":           func(x *tenant.Tenant) { x.Branding.LogoURL = `https://x/"onerror=alert(1)` },
		"logo with a space":           func(x *tenant.Tenant) { x.Branding.LogoURL = "https://x/ a" },
		"colour with css injection":   func(x *tenant.Tenant) { x.Branding.PrimaryColor = "#fff;}body{" },
		"colour without hash":         func(x *tenant.Tenant) { x.Branding.PrimaryColor = "0a7cff" },
		"colour with bad digits":      func(x *tenant.Tenant) { x.Branding.PrimaryColor = "#0a7cfg" },
		"empty name":                  func(x *tenant.Tenant) { x.Name = "" },
		"huge name":                   func(x *tenant.Tenant) { x.Name = strings.Repeat("n", 201) },
		"no status":                   func(x *tenant.Tenant) { x.Status = "" },
	}
	for name, mut := range cases {
		x := ok
		mut(&x)
		assert.ErrorIs(t, x.Validate(), tenant.ErrInvalidTenant, name)
	}
}

func TestContextCarriesACopy(t *testing.T) {
	orig := tenant.Tenant{ID: tenant.NewID(), Slug: "acme", Name: "Acme", Status: tenant.StatusActive}
	ctx := tenant.NewContext(context.Background(), orig)
	orig.Slug = "changed"

	got, ok := tenant.FromContext(ctx)
	require.True(t, ok)
	assert.Equal(t, "acme", got.Slug, "the caller's later change reached the context")
	got.ID = "forged"
	again := tenant.MustFromContext(ctx)
	assert.Equal(t, "acme", again.Slug)
	assert.NotEqual(t, "forged", again.ID, "a returned copy changed the context's tenant")

	id, err := tenant.IDFromContext(ctx)
	require.NoError(t, err)
	assert.Equal(t, again.ID, id)
}

func TestNoTenantFailsClosed(t *testing.T) {
	ctx := context.Background()
	_, ok := tenant.FromContext(ctx)
	assert.False(t, ok)
	_, err := tenant.IDFromContext(ctx)
	assert.ErrorIs(t, err, tenant.ErrNoTenant)
	_, err = tenant.IDFromContext(tenant.NewContext(ctx, tenant.Tenant{}))
	assert.ErrorIs(t, err, tenant.ErrNoTenant, "a tenant without an ID must not scope anything")
	assert.PanicsWithValue(t, tenant.ErrNoTenant, func() { tenant.MustFromContext(ctx) })
}

type otherKey struct{}

func TestContextKeepsParentValuesAndCancellation(t *testing.T) {
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), otherKey{}, "v"))
	ctx := tenant.NewContext(parent, tenant.Tenant{ID: tenant.NewID(), Slug: "acme"})
	child, cancelChild := context.WithCancel(ctx)
	defer cancelChild()
	assert.Equal(t, "v", ctx.Value(otherKey{}))
	cancel()
	<-child.Done()
	assert.ErrorIs(t, child.Err(), context.Canceled)
	_, ok := tenant.FromContext(child)
	assert.True(t, ok, "a derived context lost the tenant")
	// The innermost tenant wins: a nested NewContext replaces, never merges.
	inner := tenant.NewContext(ctx, tenant.Tenant{ID: tenant.NewID(), Slug: "globex"})
	assert.Equal(t, "globex", tenant.MustFromContext(inner).Slug)
}

func TestLogHandlerAddsTenant(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(tenant.NewLogHandler(slog.NewJSONHandler(&buf, nil))).With("svc", "crm")
	acme := tenant.Tenant{ID: tenant.NewID(), Slug: "acme", Name: "Secret Name Inc"}
	log.InfoContext(tenant.NewContext(context.Background(), acme), "hello")
	log.InfoContext(context.Background(), "plain")

	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	require.Len(t, lines, 2)
	var rec struct {
		Svc    string `json:"svc"`
		Tenant struct{ ID, Slug string }
	}
	require.NoError(t, json.Unmarshal(lines[0], &rec))
	assert.Equal(t, acme.ID, rec.Tenant.ID)
	assert.Equal(t, "acme", rec.Tenant.Slug)
	assert.Equal(t, "crm", rec.Svc)
	assert.NotContains(t, string(lines[0]), "Secret Name", "the tenant's name must not be logged")
	assert.NotContains(t, string(lines[1]), `"tenant"`)
}

func TestLogAuditorNamesBothTenants(t *testing.T) {
	var buf bytes.Buffer
	a := tenant.LogAuditor{Logger: slog.New(slog.NewTextHandler(&buf, nil))}
	a.Audit(context.Background(), tenant.Event{Kind: tenant.EventCrossTenant, TenantID: "aaa", OwnerID: "bbb",
		Resource: "lead 42", Package: "test", Err: errors.New("boom")})
	out := buf.String()
	for _, want := range []string{"level=WARN", "audit=cross_tenant", "request_tenant=aaa", "owner_tenant=bbb", `resource="lead 42"`, "error=boom"} {
		assert.Contains(t, out, want)
	}
	assert.Equal(t, tenant.DefaultAuditor, tenant.OrDefault(nil))
	var got tenant.Event
	f := tenant.AuditorFunc(func(_ context.Context, e tenant.Event) { got = e })
	tenant.OrDefault(f).Audit(context.Background(), tenant.Event{Kind: tenant.EventSuspended})
	assert.Equal(t, tenant.EventSuspended, got.Kind)
}

func TestPlatformScopeNeedsAReason(t *testing.T) {
	_, err := tenant.WithPlatformScope(context.Background(), "")
	assert.ErrorIs(t, err, tenant.ErrNoReason)
	ctx, err := tenant.WithPlatformScope(context.Background(), "nightly report")
	require.NoError(t, err)
	reason, ok := tenant.PlatformScope(ctx)
	assert.True(t, ok)
	assert.Equal(t, "nightly report", reason)
	_, ok = tenant.PlatformScope(context.Background())
	assert.False(t, ok)
	_, err = tenant.IDFromContext(ctx)
	assert.ErrorIs(t, err, tenant.ErrNoTenant, "platform scope is not a tenant")
}

func TestRequirePlatformScope(t *testing.T) {
	platform, err := tenant.WithPlatformScope(context.Background(), "tenant deleted")
	require.NoError(t, err)
	acme := tenant.NewContext(context.Background(), tenant.Tenant{ID: tenant.NewID(), Slug: "acme"})
	acmePlatform, err := tenant.WithPlatformScope(acme, "support export")
	require.NoError(t, err)
	owner := tenant.NewID()
	cases := []struct {
		name       string
		ctx        context.Context
		event      tenant.Event
		wantReason string
		wantErr    error
		wantEvent  *tenant.Event
	}{
		{
			name:    "a bare context is refused and nothing is reported",
			ctx:     context.Background(),
			event:   tenant.Event{Package: "session", Resource: "destroy sessions", OwnerID: owner},
			wantErr: tenant.ErrNoTenant,
		},
		{
			name:    "a tenant's context is not a platform scope",
			ctx:     acme,
			event:   tenant.Event{Package: "cachekey", Resource: "purge", OwnerID: owner},
			wantErr: tenant.ErrNoTenant,
		},
		{
			name:       "a platform scope is reported with its reason",
			ctx:        platform,
			event:      tenant.Event{Package: "session", Resource: "destroy sessions", OwnerID: owner},
			wantReason: "tenant deleted",
			wantEvent: &tenant.Event{Kind: tenant.EventPlatformAccess, Package: "session",
				Resource: "destroy sessions: tenant deleted", OwnerID: owner},
		},
		{
			name:       "a caller cannot report the use as another kind",
			ctx:        platform,
			event:      tenant.Event{Kind: tenant.EventSuspended, Package: "blobstore", Resource: "migrate 3 objects"},
			wantReason: "tenant deleted",
			wantEvent: &tenant.Event{Kind: tenant.EventPlatformAccess, Package: "blobstore",
				Resource: "migrate 3 objects: tenant deleted"},
		},
		{
			name:       "a platform scope over a tenant's context is reported too",
			ctx:        acmePlatform,
			event:      tenant.Event{Package: "sqlscope", Resource: "platform transaction"},
			wantReason: "support export",
			wantEvent: &tenant.Event{Kind: tenant.EventPlatformAccess, Package: "sqlscope",
				Resource: "platform transaction: support export"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got []tenant.Event
			au := tenant.AuditorFunc(func(_ context.Context, e tenant.Event) { got = append(got, e) })
			reason, err := tenant.RequirePlatformScope(c.ctx, au, c.event)
			if c.wantErr != nil {
				require.ErrorIs(t, err, c.wantErr)
				assert.Contains(t, err.Error(), c.event.Package+": "+c.event.Resource, "the error names the operation")
				assert.Empty(t, reason)
				assert.Empty(t, got, "a refused use is not a platform access")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.wantReason, reason)
			require.Len(t, got, 1)
			assert.Equal(t, *c.wantEvent, got[0])
		})
	}
}

func TestRequirePlatformScopeWithoutAuditorReportsToTheDefault(t *testing.T) {
	var got []tenant.Event
	old := tenant.DefaultAuditor
	tenant.DefaultAuditor = tenant.AuditorFunc(func(_ context.Context, e tenant.Event) { got = append(got, e) })
	t.Cleanup(func() { tenant.DefaultAuditor = old })
	ctx, err := tenant.WithPlatformScope(context.Background(), "nightly report")
	require.NoError(t, err)
	_, err = tenant.RequirePlatformScope(ctx, nil, tenant.Event{Package: "report", Resource: "usage"})
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, "usage: nightly report", got[0].Resource)
}

func BenchmarkNewContext(b *testing.B) {
	t := tenant.Tenant{ID: tenant.NewID(), Slug: "acme", Name: "Acme", Status: tenant.StatusActive}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		c := tenant.NewContext(ctx, t)
		if _, err := tenant.IDFromContext(c); err != nil {
			b.Fatal(err)
		}
	}
}

func TestSharedContext(t *testing.T) {
	shared := &tenant.Tenant{ID: tenant.NewID(), Slug: "acme"}
	ctx := tenant.NewSharedContext(context.Background(), shared)
	got := tenant.MustFromContext(ctx)
	got.Slug = "forged"
	assert.Equal(t, "acme", tenant.MustFromContext(ctx).Slug, "a copy from the context changed the shared tenant")
	assert.Equal(t, context.Background(), tenant.NewSharedContext(context.Background(), nil))
}

func TestWithoutPlatformScope(t *testing.T) {
	ctx := context.Background()
	marked, err := tenant.WithPlatformScope(ctx, "workers")
	require.NoError(t, err)
	check := func(ctx context.Context) error {
		_, err := tenant.RequirePlatformScope(ctx, tenant.AuditorFunc(func(context.Context, tenant.Event) {}), tenant.Event{Package: "test", Resource: "r"})
		return err
	}
	require.NoError(t, check(marked))

	t.Run("a marked context loses the mark, whatever is added below", func(t *testing.T) {
		cleared := tenant.WithoutPlatformScope(marked)
		assert.ErrorIs(t, check(cleared), tenant.ErrNoTenant)
		type other struct{}
		assert.ErrorIs(t, check(context.WithValue(cleared, other{}, 1)), tenant.ErrNoTenant)
		assert.ErrorIs(t, check(tenant.NewContext(cleared, tenanttest.NewTenant("acme"))), tenant.ErrNoTenant)
	})
	t.Run("platform work may mark it again", func(t *testing.T) {
		again, err := tenant.WithPlatformScope(tenant.WithoutPlatformScope(marked), "again")
		require.NoError(t, err)
		assert.NoError(t, check(again))
	})
	t.Run("an unmarked context is returned as it is, without allocating", func(t *testing.T) {
		plain := tenant.NewContext(ctx, tenanttest.NewTenant("acme"))
		assert.Equal(t, plain, tenant.WithoutPlatformScope(plain))
		assert.Zero(t, testing.AllocsPerRun(100, func() { _ = tenant.WithoutPlatformScope(plain) }))
	})
}
