package blobstore

// The tests and fuzz targets exercise these unexported helpers directly;
// they are exported to the test binary only.
var (
	CheckKey     = checkKey
	SanitizeName = sanitizeName
	NewKey       = newKey
	MigrationKey = migrationKey
)

// ContentDisposition is the attachment header the Handler sends for name.
func ContentDisposition(name string) string { return disposition("attachment", name) }

// SafeContentType is the Content-Type the Handler serves an object stored
// with ct as: its essence when inline, else application/octet-stream.
func SafeContentType(ct string) string {
	if essence, ok := inlineEssence(ct); ok {
		return essence
	}
	return octetStream
}

// Limits of the key rules, for tests at the boundary.
const (
	MaxKeyLen  = maxKeyLen
	MaxNameLen = maxNameLen
)

// Prefix returns a tenant's full prefix, for tests that look at the base
// bucket directly.
func (s *Store) Prefix(tenantID string) string { return s.tenantPrefix(tenantID) }

// FullKey returns a key's full name in the base bucket.
func (b *Bucket) FullKey(key string) (string, error) { return b.fullKey(key) }

// NewMemLedger returns the default in-memory Ledger, for tests that wrap it.
func NewMemLedger() Ledger { return newMemLedger() }
