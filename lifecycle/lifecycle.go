package lifecycle

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"gocloud.dev/blob"

	"github.com/tenantwall/tenantwall/internal/redisnodes"
	"github.com/tenantwall/tenantwall/sqlscope"
	"github.com/tenantwall/tenantwall/tenant"
)

// Dialect names the SQL engine of the tenant tables: sqlscope's, of which
// New accepts SQLite and Postgres. Its String is what a manifest records.
type Dialect = sqlscope.Dialect

// The dialects New accepts.
const (
	SQLite   = sqlscope.SQLite   // modernc.org/sqlite or any SQLite driver
	Postgres = sqlscope.Postgres // PostgreSQL; COPY when the driver is pgx's stdlib
)

// DefaultGracePeriod is how long a scheduled tenant stays suspended before
// Delete removes it without confirmation.
const DefaultGracePeriod = 7 * 24 * time.Hour

// DefaultSetting is the PostgreSQL setting that carries the tenant under
// row level security (sqlscope's default).
const DefaultSetting = sqlscope.DefaultSetting

// DefaultBlobRoot is the prefix of every tenant prefix in the bucket
// (blobstore's default): a tenant's objects are under root + ID + "/".
const DefaultBlobRoot = "tenants/"

// Cache is the cache part of a deletion: *cachekey.Keyspace implements it.
type Cache interface {
	// Purge deletes every key of the tenant and returns how many.
	Purge(ctx context.Context, tenantID string) (int64, error)
	// Forget deletes what Purge leaves (the generation counter).
	Forget(ctx context.Context, tenantID string) (bool, error)
}

// Sessions is the session part of a deletion: every session.Store
// implements it.
type Sessions interface {
	DeleteTenant(ctx context.Context, tenantID string) error
}

// Removed is what one store removed of a tenant, as listed in a Receipt.
type Removed struct {
	Store string `json:"store"`           // "table public.leads", "blobs", "cache", …
	Count int64  `json:"count"`           // rows, objects, keys, versions removed; -1 when the store cannot count
	Bytes int64  `json:"bytes,omitempty"` // bytes removed, where known
	Note  string `json:"note,omitempty"`  // what else was done ("data key destroyed")
}

// RemoverFunc removes a tenant from one store that Manager does not know,
// such as credentials (credentials.Vault.DeleteTenant) or signing keys
// (jwtclaims.KeySet.RemoveTenant), and says what it removed. It must be
// idempotent: a second call for a removed tenant removes nothing and
// succeeds.
type RemoverFunc func(ctx context.Context, tenantID string) (Removed, error)

// Manager exports, imports and deletes tenants across the stores it is
// given. It is safe for concurrent use; it closes nothing it was given.
// Every method that acts across tenants (Schedule, Delete, Verify) is
// platform work: its ctx must carry tenant.WithPlatformScope's reason,
// which is reported to the auditor.
type Manager struct {
	tenants tenant.Store
	db      *sql.DB
	dialect Dialect
	options
}

// Option configures New.
type Option func(*options) error

type options struct {
	bucket   *blob.Bucket
	blobRoot string
	cache    Cache
	sessions Sessions
	removers []namedRemover
	redis    redis.UniversalClient
	grace    time.Duration
	setting  string
	partSize int
	progress func(Progress)
	auditor  tenant.Auditor
	now      func() time.Time
	onChange func(ctx context.Context, t tenant.Tenant)
	// archiveKeys authenticate archives: the first signs, each verifies.
	archiveKeys [][]byte
	// domainPolicy, if set, must accept every domain Import registers.
	domainPolicy func(ctx context.Context, host string) error
}

type namedRemover struct {
	name string
	fn   RemoverFunc
}

// WithBucket adds the blob bucket: a tenant's objects are every key under
// root + tenant ID + "/" (root "" means DefaultBlobRoot; it must end in
// '/'). They are exported, imported, deleted and verified with the rest.
func WithBucket(b *blob.Bucket, root string) Option {
	return func(o *options) error {
		if b == nil {
			return fmt.Errorf("%w: WithBucket: nil bucket", ErrConfig)
		}
		if root == "" {
			root = DefaultBlobRoot
		}
		if !strings.HasSuffix(root, "/") || strings.HasPrefix(root, "/") || strings.Contains(root, "//") {
			return fmt.Errorf("%w: WithBucket: root %q must be a relative prefix ending in '/'", ErrConfig, root)
		}
		o.bucket, o.blobRoot = b, root
		return nil
	}
}

// WithCache adds the cache, purged (and its counter forgotten) at delete.
func WithCache(c Cache) Option {
	return func(o *options) error {
		if c == nil {
			return fmt.Errorf("%w: WithCache: nil cache", ErrConfig)
		}
		o.cache = c
		return nil
	}
}

// WithSessions adds the session store, whose sessions of the tenant end
// at delete.
func WithSessions(s Sessions) Option {
	return func(o *options) error {
		if s == nil {
			return fmt.Errorf("%w: WithSessions: nil store", ErrConfig)
		}
		o.sessions = s
		return nil
	}
}

var storeName = regexp.MustCompile(`^[a-z][a-z0-9 _-]{0,39}$`)

// WithRemover adds a store that Delete removes the tenant from, under a
// name for the receipt (lowercase letters, digits, blank, '_' or '-').
// Removers run in the order given, after the tables, blobs, cache and
// sessions, before the tenant's registry entry and domains go.
func WithRemover(name string, fn RemoverFunc) Option {
	return func(o *options) error {
		if !storeName.MatchString(name) || fn == nil {
			return fmt.Errorf("%w: WithRemover(%q): want a short lowercase name and a function", ErrConfig, name)
		}
		o.removers = append(o.removers, namedRemover{name, fn})
		return nil
	}
}

// WithRedis adds a Redis whose whole key space Verify scans for keys
// naming the tenant and values holding its ID: SCAN on every node that
// can hold keys, the one server (or a Sentinel client's primary), every
// master of a cluster or every shard of a Ring. A client of another type
// (a wrapper, go-redis's AutoPipeliner), through which a SCAN may reach
// one node of several, is refused with ErrConfig. Give it a client
// without the cachekey Guard: the scan is keyspace-wide.
func WithRedis(c redis.UniversalClient) Option {
	return func(o *options) error {
		if c == nil {
			return fmt.Errorf("%w: WithRedis: nil client", ErrConfig)
		}
		if err := redisnodes.Check(c); err != nil {
			return fmt.Errorf("%w: WithRedis: %w", ErrConfig, err)
		}
		o.redis = c
		return nil
	}
}

// WithGracePeriod sets how long Schedule keeps a tenant suspended before
// Delete may remove it without confirmation (default DefaultGracePeriod;
// zero allows deleting at once).
func WithGracePeriod(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return fmt.Errorf("%w: WithGracePeriod(%v): negative", ErrConfig, d)
		}
		o.grace = d
		return nil
	}
}

var settingName = regexp.MustCompile(`^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$`)

// WithSetting names the PostgreSQL setting that carries the tenant under
// row level security (default DefaultSetting). Export, import, delete and
// verify each run in a transaction where it holds the tenant's ID, so that
// row level security scopes them to that tenant whatever the statement.
func WithSetting(name string) Option {
	return func(o *options) error {
		if !settingName.MatchString(name) {
			return fmt.Errorf("%w: WithSetting(%q): want a lowercase prefix.name", ErrConfig, name)
		}
		o.setting = name
		return nil
	}
}

// WithPartSize sets the most bytes of rows one archive entry holds
// (default 4 MiB): export buffers one part in memory, whatever the size
// of the tenant.
func WithPartSize(n int) Option {
	return func(o *options) error {
		if n < 1<<10 || n > 256<<20 {
			return fmt.Errorf("%w: WithPartSize(%d): want 1 KiB to 256 MiB", ErrConfig, n)
		}
		o.partSize = n
		return nil
	}
}

// WithProgress sets a function called as long work goes on (about four
// times a second and at the end of each step), from the goroutine doing
// the work.
func WithProgress(fn func(Progress)) Option {
	return func(o *options) error { o.progress = fn; return nil }
}

// WithAuditor sets where platform work is reported (default
// tenant.DefaultAuditor).
func WithAuditor(a tenant.Auditor) Option {
	return func(o *options) error { o.auditor = tenant.OrDefault(a); return nil }
}

// WithOnChange sets a function called after a tenant's registry entry
// changed (suspended, imported, deleted), such as the resolver's
// InvalidateTenant, so that a suspension is refused at once.
func WithOnChange(fn func(ctx context.Context, t tenant.Tenant)) Option {
	return func(o *options) error { o.onChange = fn; return nil }
}

// MinArchiveKeySize is the fewest bytes an archive key may have
// (WithArchiveKeys): the size of HMAC-SHA256's output.
const MinArchiveKeySize = 32

// WithArchiveKeys authenticates archives with platform keys. Export
// signs the manifest, which holds the SHA-256 of every other entry, with
// keys[0] (HMAC-SHA256, in an entry after it; see Format), and Import
// verifies that signature against each key, in constant time, before it
// decodes or trusts any entry of the archive (it has read the tar
// headers and hashed each entry by then): an archive without a
// signature, or with one that no key verifies, is refused with
// ErrSignature and nothing is written. To rotate, put the new key first
// and keep the old ones after it while archives signed by them must
// still import. Each key must be at least MinArchiveKeySize bytes from a
// cryptographic random source, kept where only operators can read it:
// whoever holds a key can make archives whose statuses Import takes (an
// active custom domain serves at once, with no new proof of ownership;
// the rows are checked all the same). A later
// WithArchiveKeys replaces the keys of an earlier one.
//
// Without keys (the default) archives are unsigned, and Import takes
// nothing from them that would grant access: see Import.
func WithArchiveKeys(keys ...[]byte) Option {
	return func(o *options) error {
		if len(keys) == 0 {
			return fmt.Errorf("%w: WithArchiveKeys: no key", ErrConfig)
		}
		own := make([][]byte, len(keys))
		for i, k := range keys {
			if len(k) < MinArchiveKeySize {
				return fmt.Errorf("%w: WithArchiveKeys: key %d has %d bytes, want at least %d", ErrConfig, i+1, len(k), MinArchiveKeySize)
			}
			own[i] = bytes.Clone(k)
		}
		o.archiveKeys = own
		return nil
	}
}

// WithDomainPolicy sets the application's rule for custom domains, the
// same check its own way of adding a domain makes (such as refusing the
// platform's own host and names under its base domain). Import calls it
// for every domain of the archive (removed ones too), signed or not, in
// its first pass before anything is written, and refuses the whole
// import with ErrDomainPolicy, naming the host, when it returns an
// error. host is canonical (tenant.ValidateDomain). Without a policy
// (the default) Import registers any valid host the archive names that
// is free on the target.
func WithDomainPolicy(fn func(ctx context.Context, host string) error) Option {
	return func(o *options) error {
		if fn == nil {
			return fmt.Errorf("%w: WithDomainPolicy: nil function", ErrConfig)
		}
		o.domainPolicy = fn
		return nil
	}
}

// New returns a Manager over the tenant registry and the database that
// holds the tenant tables. For PostgreSQL, db should connect as a role
// that row level security binds (the application role or the tables'
// owner under FORCE): export, import and delete then see one tenant's
// rows only. Import also needs to set identity sequences (owner), and
// Migrate to create a table.
func New(tenants tenant.Store, db *sql.DB, d Dialect, opts ...Option) (*Manager, error) {
	if tenants == nil || db == nil {
		return nil, fmt.Errorf("%w: a tenant store and a database are required", ErrConfig)
	}
	if d != SQLite && d != Postgres {
		return nil, fmt.Errorf("%w: dialect %v", ErrConfig, d)
	}
	o := options{grace: DefaultGracePeriod, setting: DefaultSetting, partSize: 4 << 20,
		auditor: tenant.DefaultAuditor, now: time.Now}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	return &Manager{tenants: tenants, db: db, dialect: d, options: o}, nil
}

// q rewrites ? placeholders as $n for PostgreSQL.
func (m *Manager) q(query string) string { return sqlscope.Rebind(m.dialect, query) }

// scopedTx begins a transaction in which, on PostgreSQL, the setting
// holds the tenant's ID.
func (m *Manager) scopedTx(ctx context.Context, id string, opts *sql.TxOptions) (*sql.Tx, error) {
	tx, err := m.db.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	if m.dialect == Postgres {
		if _, err := tx.ExecContext(ctx, `SELECT set_config($1, $2, true)`, m.setting, id); err != nil {
			_ = tx.Rollback()
			return nil, fmt.Errorf("lifecycle: set tenant: %w", err)
		}
	}
	return tx, nil
}

// blobPrefix is the tenant's prefix in the bucket.
func (m *Manager) blobPrefix(id string) string { return m.blobRoot + id + "/" }
