package jobs

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/tenant"
)

func TestWithTenant(t *testing.T) {
	id := tenant.NewID()
	cases := []struct {
		name string
		md   string
		err  error
	}{
		{"empty metadata gets the tenant", ``, nil},
		{"an empty object gets the tenant", `{}`, nil},
		{"other keys are kept", `{"trace":"abc","n":1}`, nil},
		{"a tenant key set by the caller is refused", `{"tenantwall_tenant":"` + id + `"}`, ErrMetadataTenant},
		{"metadata that is not an object is refused", `[1,2]`, nil},
		{"metadata that is not JSON is refused", `{"a":`, nil},
		{"null metadata is refused", `null`, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			md, err := withTenant([]byte(c.md), id)
			if c.err != nil {
				assert.ErrorIs(t, err, c.err)
				return
			}
			var m map[string]json.RawMessage
			if (json.Unmarshal([]byte(c.md), &m) != nil || m == nil) && c.md != "" {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			got, err := metadataTenant(md)
			require.NoError(t, err)
			assert.Equal(t, id, got)
			var out map[string]json.RawMessage
			require.NoError(t, json.Unmarshal(md, &out))
			for k, v := range m {
				assert.JSONEq(t, string(v), string(out[k]), k)
			}
		})
	}
	_, err := withTenant(nil, `x","other":"y`)
	assert.ErrorIs(t, err, tenant.ErrInvalidID, "an ID that is not a UUID is never spliced into JSON")
}

func TestTenantUniqueKeyDiffersPerTenant(t *testing.T) {
	key := []byte("river unique key")
	a, b := tenant.NewID(), tenant.NewID()
	assert.Equal(t, tenantUniqueKey(a, key), tenantUniqueKey(a, key))
	assert.NotEqual(t, tenantUniqueKey(a, key), tenantUniqueKey(b, key))
	assert.NotEqual(t, tenantUniqueKey(a, key), tenantUniqueKey(a, []byte("other key")))
}

// FuzzMetadataTenant: whatever a job's metadata holds, the envelope
// either names a valid tenant ID that the metadata holds under exactly
// MetadataKey, or refuses with ErrNoJobTenant.
func FuzzMetadataTenant(f *testing.F) {
	id := tenant.NewID()
	for _, s := range []string{``, `{}`, `null`, `{"tenantwall_tenant":"` + id + `"}`,
		`{"tenantwall_tenant":"` + id + `","tenantwall_tenant":"x"}`, `{"TENANTWALL_TENANT":"` + id + `"}`,
		`{"tenantwall_tenant":42}`, `{"tenantwall_tenant":"\u0030b6f4c1e-8d2a-4f3b-9c5d-7e1a2b3c4d5e"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, md []byte) {
		got, err := metadataTenant(md)
		if err != nil {
			if !errors.Is(err, ErrNoJobTenant) {
				t.Fatalf("metadataTenant(%q) = %v, not ErrNoJobTenant", md, err)
			}
			return
		}
		if err := tenant.ValidateID(got); err != nil {
			t.Fatalf("metadataTenant(%q) = %q, not a tenant ID: %v", md, got, err)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(md, &m); err != nil {
			t.Fatalf("metadataTenant accepted %q, which is not a JSON object", md)
		}
		var v string
		if err := json.Unmarshal(m[MetadataKey], &v); err != nil || v != got {
			t.Fatalf("metadataTenant(%q) = %q, but the metadata holds %q under the key", md, got, v)
		}
		// The metadata already names a tenant: an insert with it is refused.
		if _, err := withTenant(md, tenant.NewID()); !errors.Is(err, ErrMetadataTenant) {
			t.Fatalf("withTenant accepted metadata %q that names tenant %s", md, got)
		}
	})
}

func TestNewRefusesBadOptions(t *testing.T) {
	store := tenant.NewMemStore()
	for name, opts := range map[string][]Option{
		"a nil auditor":          {WithAuditor(nil)},
		"a negative snooze":      {WithSuspendedSnooze(-1)},
		"an empty platform kind": {WithPlatformKinds("")},
	} {
		_, err := New(store, opts...)
		assert.ErrorIs(t, err, ErrInvalidOption, name)
	}
	_, err := New(nil)
	assert.ErrorIs(t, err, ErrInvalidOption, "a nil store")
}

func TestOnlyTenantAgreesWithTheDecoder(t *testing.T) {
	id := tenant.NewID()
	for _, md := range []string{
		`{"tenantwall_tenant":"` + id + `"}`,
		`{"tenantwall_tenant": "` + id + `"}`,
		`{"tenantwall_tenant":  "` + id + `"}`,
		`{"tenantwall_tenant":"` + id + `"} `,
		`{"tenantwall_tenant":"` + id + `","x":1}`,
		`{"tenantwall_tenant":"` + strings.ToUpper(id) + `"}`,
		`{"tenantwall_tenant":"` + id[:35] + `"}`,
	} {
		fast, ok := onlyTenant([]byte(md))
		var m map[string]json.RawMessage
		require.NoError(t, json.Unmarshal([]byte(md), &m), md)
		var slow string
		_ = json.Unmarshal(m[MetadataKey], &slow)
		if ok {
			assert.Equal(t, slow, fast, md)
		}
		got, err := metadataTenant([]byte(md))
		if tenant.ValidateID(slow) == nil {
			require.NoError(t, err, md)
			assert.Equal(t, slow, got, md)
		} else {
			assert.ErrorIs(t, err, ErrNoJobTenant, md)
		}
	}
}

func TestNamesNoTenant(t *testing.T) {
	id := tenant.NewID()
	for md, want := range map[string]bool{
		``:                                   true,
		`{}`:                                 true,
		`{"trace":"x"}`:                      true,
		`{"tenantwall_tenant":"` + id + `"}`: false,
		`{"tenantwall_tenant":42}`:           false,
		`{"tenantwall_tenant":null}`:         false,
		`null`:                               false,
		`[]`:                                 false,
		`{`:                                  false,
	} {
		assert.Equal(t, want, namesNoTenant([]byte(md)), md)
	}
}
