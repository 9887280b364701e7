package credentials

import "fmt"

// Secret is a credential value that does not print: %v, %s, %q, %#v and
// String all give "[REDACTED]", and it marshals to JSON as that too. Call
// Reveal to use it.
type Secret struct {
	value    string
	Provider string // the provider the value is for
	Version  int    // the stored version it came from
	// Fallback is true when the value is the platform-wide key, served
	// because the provider allows fallback and the tenant has none.
	Fallback bool
}

const redacted = "[REDACTED]"

// Reveal returns the secret value.
func (s Secret) Reveal() string { return s.value }

// String implements fmt.Stringer.
func (s Secret) String() string { return redacted }

// GoString implements fmt.GoStringer.
func (s Secret) GoString() string { return "credentials.Secret{" + redacted + "}" }

// Format implements fmt.Formatter, so no verb prints the value.
func (s Secret) Format(f fmt.State, verb rune) {
	switch verb {
	case 'v':
		if f.Flag('#') {
			fmt.Fprint(f, s.GoString())
			return
		}
		if f.Flag('+') {
			fmt.Fprintf(f, "{Provider:%s Version:%d Fallback:%v value:%s}", s.Provider, s.Version, s.Fallback, redacted)
			return
		}
	}
	fmt.Fprint(f, redacted)
}

// MarshalJSON implements json.Marshaler.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }
