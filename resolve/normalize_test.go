package resolve_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/tenantwall/tenantwall/resolve"
	"github.com/tenantwall/tenantwall/tenant"
)

func TestNormalize(t *testing.T) {
	good := []struct{ in, want string }{
		{"acme.app.example.com", "acme.app.example.com"},
		{"ACME.App.Example.COM", "acme.app.example.com"},
		{"acme.app.example.com:8443", "acme.app.example.com"},
		{"acme.app.example.com:", "acme.app.example.com"},
		{"acme.app.example.com.", "acme.app.example.com"},
		{"acme.app.example.com.:443", "acme.app.example.com"},
		{"localhost", "localhost"},
		{"acme.localhost:8080", "acme.localhost"},
		{"bücher.example", "xn--bcher-kva.example"},
		{"BÜCHER.example", "xn--bcher-kva.example"},
		{"xn--bcher-kva.example", "xn--bcher-kva.example"},
		{"XN--BCHER-KVA.example", "xn--bcher-kva.example"},
		{"ａｃｍｅ．app．example．com", "acme.app.example.com"}, // full-width letters and dots
		{"acme。app。example。com", "acme.app.example.com"}, // ideographic full stops
		{"r3---sn-apo3qvuoxuxbt-j5pe.example.com", "r3---sn-apo3qvuoxuxbt-j5pe.example.com"},
		{"1password.com", "1password.com"},
		{"exam\u00adple.com", "example.com"}, // a soft hyphen maps to nothing, as in browsers
	}
	for _, c := range good {
		got, err := resolve.Normalize(c.in)
		if assert.NoError(t, err, "Normalize(%q)", c.in) {
			assert.Equal(t, c.want, got, "Normalize(%q)", c.in)
		}
	}

	bad := []struct {
		in   string
		want error
	}{
		{"", resolve.ErrInvalidHost},
		{".", resolve.ErrInvalidHost},
		{":80", resolve.ErrInvalidHost},
		{"acme.app.example.com..", resolve.ErrInvalidHost},
		{".acme.app.example.com", resolve.ErrInvalidHost},
		{"acme..example.com", resolve.ErrInvalidHost},
		{"127.0.0.1", resolve.ErrIPLiteral},
		{"127.0.0.1:8080", resolve.ErrIPLiteral},
		{"127.1", resolve.ErrInvalidHost},
		{"0x7f.0.0.1", resolve.ErrInvalidHost},
		{"2130706433", resolve.ErrInvalidHost},
		{"[::1]", resolve.ErrIPLiteral},
		{"[::1]:443", resolve.ErrIPLiteral},
		{"::1", resolve.ErrIPLiteral},
		{"[fe80::1%25eth0]:80", resolve.ErrIPLiteral},
		{"１２７.０.０.１", resolve.ErrIPLiteral}, // full-width digits map to an address
		{"acme.app.example.com:80:80", resolve.ErrIPLiteral},
		{"acme.app.example.com:http", resolve.ErrInvalidHost},
		{"acme.app.example.com:123456", resolve.ErrInvalidHost},
		{"acme.app.example.com:-1", resolve.ErrInvalidHost},
		{"acme_corp.example.com", resolve.ErrInvalidHost},
		{"acme corp.example.com", resolve.ErrInvalidHost},
		{"acme.example.com\x00.evil.com", resolve.ErrInvalidHost},
		{"acme.example.com\r\nX-Injected: 1", resolve.ErrInvalidHost},
		{"acme.example.com/evil", resolve.ErrInvalidHost},
		{"acme.example.com\\evil", resolve.ErrInvalidHost},
		{"user@acme.example.com", resolve.ErrInvalidHost},
		{"*.example.com", resolve.ErrInvalidHost},
		{"-acme.example.com", resolve.ErrInvalidHost},
		{"acme-.example.com", resolve.ErrInvalidHost},
		{strings.Repeat("a", 64) + ".example.com", resolve.ErrInvalidHost},
		{strings.Repeat("abcdefghi.", 26) + "com", resolve.ErrInvalidHost},
		{strings.Repeat("a", 5000), resolve.ErrInvalidHost},
		{"xn--.example.com", resolve.ErrInvalidHost},
		{"xn--a.example.com", resolve.ErrInvalidHost},          // invalid punycode
		{"xn--ls8h.example\u200d.com", resolve.ErrInvalidHost}, // zero-width joiner
		{"a\u202eb.example.com", resolve.ErrInvalidHost},       // bidi override
	}
	for _, c := range bad {
		got, err := resolve.Normalize(c.in)
		assert.ErrorIs(t, err, c.want, "Normalize(%q) = %q", c.in, got)
		assert.Empty(t, got, "Normalize(%q) returned a host with an error", c.in)
	}
}

func TestNormalizeWrapsTheDomainRule(t *testing.T) {
	_, err := resolve.Normalize("-acme.example.com")
	assert.ErrorIs(t, err, tenant.ErrInvalidDomain)
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"acme.app.example.com", "ACME.example.com:80", "bücher.example.", "[::1]:80",
		"127.0.0.1", "ａｃｍｅ．com", "xn--bcher-kva.example", "a..b", "", "acme。com", "xn--ls8h.la"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := resolve.Normalize(in)
		if err != nil {
			if out != "" {
				t.Fatalf("Normalize(%q) = %q with error %v", in, out, err)
			}
			return
		}
		if err := tenant.ValidateDomain(out); err != nil {
			t.Fatalf("Normalize(%q) = %q, not a valid host: %v", in, out, err)
		}
		again, err := resolve.Normalize(out)
		if err != nil || again != out {
			t.Fatalf("not idempotent: Normalize(%q) = %q, then %q, %v", in, out, again, err)
		}
	})
}

func TestParseForwardedHost(t *testing.T) {
	cases := []struct {
		in   string
		want string
		ok   bool
	}{
		{"host=acme.example.com", "acme.example.com", true},
		{"for=192.0.2.60;proto=https;host=acme.example.com", "acme.example.com", true},
		{`for=192.0.2.60;host="acme.example.com:8443"`, "acme.example.com:8443", true},
		{"Host=acme.example.com", "acme.example.com", true},
		{"host=evil.example.com, host=acme.example.com", "acme.example.com", true},
		{`host="evil, host=x", host=acme.example.com`, "acme.example.com", true},
		{"host=acme.example.com, for=192.0.2.1", "", false}, // the proxy's own element has no host
		{"for=192.0.2.60", "", false},
		{"", "", false},
		{`host="unterminated`, "", false},
		{"host=a.com;host=b.com", "", false},
		{"host=", "", false},
		{`host="a\"b"`, `a"b`, true},
		{"host=a b", "", false},
		{"=x", "", false},
		{`host="a` + "\x00" + `b"`, "", false},
	}
	for _, c := range cases {
		got, ok := resolve.ParseForwardedHost(c.in)
		assert.Equal(t, c.ok, ok, "ParseForwardedHost(%q)", c.in)
		assert.Equal(t, c.want, got, "ParseForwardedHost(%q)", c.in)
	}
}

func FuzzParseForwardedHost(f *testing.F) {
	for _, s := range []string{"host=a.com", `for=1.2.3.4;host="b.com:80", host=c.com`, `host="x\"y"`, ";;,,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		host, ok := resolve.ParseForwardedHost(in)
		if !ok && host != "" {
			t.Fatalf("ParseForwardedHost(%q) = %q, false", in, host)
		}
		if ok && host == "" {
			t.Fatalf("ParseForwardedHost(%q) ok with an empty host", in)
		}
		for _, c := range []byte(host) {
			if c < 0x20 || c == 0x7f {
				t.Fatalf("ParseForwardedHost(%q) = %q holds a control byte", in, host)
			}
		}
	})
}
