package blobstore

// The tests and fuzz targets exercise these unexported helpers directly;
// they are exported to the test binary only.
var (
	CheckKey           = checkKey
	ContentDisposition = contentDisposition
	SanitizeName       = sanitizeName
	NewKey             = newKey
	MigrationKey       = migrationKey
	SafeContentType    = safeContentType
)

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
