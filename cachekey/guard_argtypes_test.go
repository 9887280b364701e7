package cachekey_test

import (
	"context"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/cachekey"
	"github.com/tenantwall/tenantwall/tenant"
)

// text is an argument go-redis writes with MarshalBinary.
type text string

func (t text) MarshalBinary() ([]byte, error) { return []byte(t), nil }

// failing is an argument go-redis cannot write: it fails before sending.
type failing struct{}

func (failing) MarshalBinary() ([]byte, error) { return nil, assert.AnError }

// go-redis writes *string, net.IP, encoding.BinaryMarshaler and nil as
// text. A keyword, a SORT token, a key or a script argument passed in one
// of these forms is the same text to Redis and must be the same text to
// the Guard: read as "no keyword" it would leave the keys after it
// unchecked.
func TestGuardReadsEveryArgumentAsRedisReceivesIt(t *testing.T) {
	f := newGuardFixture(t)
	A := func(s string) string { return f.nsA + s }
	B := func(s string) string { return f.nsB + s }
	ptr := func(s string) *string { return &s }
	forms := []struct {
		name string
		of   func(string) any
	}{
		{"a *string", func(s string) any { return ptr(s) }},
		{"an encoding.BinaryMarshaler", func(s string) any { return text(s) }},
		{"a net.IP", func(s string) any { return net.IP(s) }},
	}
	for _, form := range forms {
		W := form.of
		cases := []struct {
			name string
			args []any
		}{
			{"XREAD with STREAMS as " + form.name + " reading B's stream", []any{"xread", W("STREAMS"), B("stream"), "0"}},
			{"XREADGROUP with STREAMS as " + form.name, []any{"xreadgroup", "GROUP", "g", "c", W("STREAMS"), B("stream"), ">"}},
			{"GEORADIUS with STORE as " + form.name + " storing into B", []any{"georadius", A("geo"), 0, 0, 10, "km", W("STORE"), B("dst")}},
			{"GEORADIUSBYMEMBER with STOREDIST as " + form.name, []any{"georadiusbymember", A("geo"), "m", 10, "km", W("STOREDIST"), B("dst")}},
			{"SORT with GET as " + form.name + " reading B's hashes", []any{"sort", A("list"), "BY", "nosort", W("GET"), B("h:*->f")}},
			{"SORT with BY as " + form.name, []any{"sort", A("list"), W("BY"), B("h:*->f")}},
			{"SORT with STORE as " + form.name + " storing into B", []any{"sort", A("list"), W("STORE"), B("dst")}},
			{"MIGRATE with KEYS as " + form.name, []any{"migrate", "127.0.0.1", 1, "", 0, 10, W("KEYS"), B("str")}},
			{"a key given as " + form.name, []any{"get", W(B("str"))}},
			{"a SORT pattern given as " + form.name, []any{"sort", A("list"), "GET", W(B("h:*->f"))}},
			{"a trusted script given B's key in ARGV as " + form.name, []any{"eval", f.trustedSrc, 1, A("str"), W(B("str"))}},
		}
		for _, c := range cases {
			t.Run(c.name+" is refused and audited", func(t *testing.T) {
				before := f.audit.Count(tenant.EventCrossTenant)
				res, err := f.guarded.Do(f.ctxA, c.args...).Result()
				require.ErrorIs(t, err, cachekey.ErrForeignKey)
				assert.Nil(t, res)
				assert.Equal(t, before+1, f.audit.Count(tenant.EventCrossTenant), "one cross-tenant event")
			})
		}
	}
	t.Run("a nil script body is the empty script, not a trusted one", func(t *testing.T) {
		assert.ErrorIs(t, f.guarded.Do(f.ctxA, "eval", nil, 0).Err(), cachekey.ErrUntrustedScript)
	})
	t.Run("an argument go-redis cannot write is refused before anything is sent", func(t *testing.T) {
		for _, args := range [][]any{
			{"get", failing{}},
			{"xread", failing{}, B("stream"), "0"},
			{"sort", A("list"), failing{}, B("h:*->f")},
		} {
			assert.Error(t, f.guarded.Do(f.ctxA, args...).Err(), "%v", args)
		}
	})
	t.Run("the tenant's own keys and keywords in these forms run", func(t *testing.T) {
		for _, form := range forms {
			W := form.of
			for _, args := range [][]any{
				{"get", W(A("str"))},
				{"xread", W("STREAMS"), W(A("stream")), "0"},
				{"sort", A("list"), "BY", "nosort", W("GET"), W(A("h:*->f"))},
			} {
				assert.NoError(t, f.guarded.Do(f.ctxA, args...).Err(), "%s: %v", form.name, args)
			}
		}
	})
	f.bUntouched(t)
	assert.EqualValues(t, 0, f.base.Exists(context.Background(), B("dst")).Val(), "a destination in B was written")
}
