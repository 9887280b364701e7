package sqlscope

import (
	"fmt"
	"strings"
)

// QuoteIdent validates an identifier and returns it double-quoted for
// PostgreSQL (and SQLite). Identifiers are 1 to 63 bytes of ASCII letters,
// digits, '_' and '-', not starting with a digit or '-'. Anything else is
// refused rather than escaped: identifiers here come from code or from
// validated slugs, and a strange one is a bug or an attack.
func QuoteIdent(name string) (string, error) {
	if err := checkIdent(name); err != nil {
		return "", err
	}
	return `"` + name + `"`, nil
}

// QuoteQualified is QuoteIdent for a name that may be schema-qualified
// ("crm.leads").
func QuoteQualified(name string) (string, error) {
	parts := strings.Split(name, ".")
	if len(parts) > 2 {
		return "", fmt.Errorf("%w %q: more than one dot", ErrIdentifier, name)
	}
	for i, p := range parts {
		q, err := QuoteIdent(p)
		if err != nil {
			return "", err
		}
		parts[i] = q
	}
	return strings.Join(parts, "."), nil
}

func checkIdent(name string) error {
	if name == "" || len(name) > 63 {
		return fmt.Errorf("%w %.70q: want 1 to 63 bytes", ErrIdentifier, name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', c == '_':
		case '0' <= c && c <= '9', c == '-':
			if i == 0 {
				return fmt.Errorf("%w %q: starts with %q", ErrIdentifier, name, c)
			}
		default:
			return fmt.Errorf("%w %q: character %q at byte %d", ErrIdentifier, name, c, i)
		}
	}
	return nil
}

// checkSetting validates a PostgreSQL custom parameter name such as
// "tenantwall.tenant_id": two identifiers joined by a dot.
func checkSetting(name string) error {
	a, b, ok := strings.Cut(name, ".")
	if !ok || strings.Contains(b, ".") || checkIdent(a) != nil || checkIdent(b) != nil ||
		strings.ContainsRune(name, '-') {
		return fmt.Errorf("%w: setting %q must look like \"prefix.name\"", ErrIdentifier, name)
	}
	return nil
}
