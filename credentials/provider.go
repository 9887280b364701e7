package credentials

import "fmt"

// maxProvider is the longest provider name: enough for any service's
// name, short enough to sit in keys, columns and log lines.
const maxProvider = 40

// ValidateProvider reports whether p is a provider name: 1 to 40 of a-z,
// 0-9, '-' and '_'. The error wraps ErrProvider. The Vault, WithHosts,
// WithFallback and every Store check names with it, so a name is either
// refused everywhere or means the same thing everywhere.
func ValidateProvider(p string) error {
	if p == "" || len(p) > maxProvider {
		return fmt.Errorf("%w %.50q: want 1 to %d of a-z, 0-9, '-', '_'", ErrProvider, p, maxProvider)
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("%w %q: byte %d is not one of a-z, 0-9, '-', '_'", ErrProvider, p, i)
		}
	}
	return nil
}
