package resolve_test

import (
	"encoding/base64"
	"encoding/json"
	"testing"

	"github.com/tenantwall/tenantwall/resolve"
)

// FuzzOrderNames feeds the order guard's reader arbitrary bodies: it must
// never panic, and the names it returns are exactly the dns identifiers
// a JSON reader finds in the payload, so no name can slip past the
// guard's check unseen.
func FuzzOrderNames(f *testing.F) {
	f.Add([]byte(order("crm.acme.test")))
	f.Add([]byte(order("a.test", "b.test")))
	f.Add([]byte(`{"payload":"eyJpZGVudGlmaWVycyI6W3sidHlwZSI6ImlwIiwidmFsdWUiOiIxLjIuMy40In1dfQ"}`))
	f.Add([]byte(`{"payload":""}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, body []byte) {
		names, err := resolve.OrderNames(body)
		if err != nil {
			return
		}
		var jws struct{ Payload string }
		if json.Unmarshal(body, &jws) != nil {
			t.Fatalf("names %q from a body that is not JSON", names)
		}
		payload, err := base64.RawURLEncoding.DecodeString(jws.Payload)
		if err != nil {
			t.Fatalf("names %q from a payload that is not base64url", names)
		}
		var o struct {
			Identifiers []struct{ Type, Value string }
		}
		if json.Unmarshal(payload, &o) != nil || len(o.Identifiers) != len(names) || len(names) == 0 {
			t.Fatalf("names %q do not match the payload %q", names, payload)
		}
		for i, id := range o.Identifiers {
			if id.Type != "dns" || id.Value != names[i] {
				t.Fatalf("name %d: %q, payload has %+v", i, names[i], id)
			}
		}
	})
}
