package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tenantwall/tenantwall/resolve"
)

// config is the server's configuration: flags, with environment variables
// as their defaults.
type config struct {
	addr          string
	baseDomain    string
	platformHost  string
	demo          bool
	db            string // SQLite file path, or a postgres:// URL (the application role)
	dbAdmin       string // postgres:// URL of the owner role for migrations (default: db)
	redis         string // redis:// URL; empty: in-memory cache and sessions
	blob          string // gocloud.dev bucket URL
	dataDir       string
	moveTo        string   // data directory of the operator API's tenant move target
	migrateTables []string // tables POST /admin/api/migrate-db/ may adopt (an allow-list)
	operator      string   // operator API token
	secureCookie  bool     // force Secure/__Host- cookies (behind a TLS proxy)
	proxies       string   // comma-separated CIDRs of trusted reverse proxies
	accel         string   // nginx internal location for X-Accel-Redirect downloads (nginx.go)
	bcryptCost    int

	// trustedOrigins: comma-separated origins whose cookie-authenticated
	// writes pass the cross-origin check.
	trustedOrigins string

	// Timeouts: readTimeout bounds reading a whole request (headers and
	// body), readHeaderTimeout its headers, requestTimeout the work of a
	// request (its context deadline, which also bounds the wait for a
	// pool connection).
	readTimeout, readHeaderTimeout, requestTimeout time.Duration

	pools poolConfig

	metricsAddr        string    // -metrics-addr: a separate /metrics listener (telemetry.go)
	plans, defaultPlan string    // -plans, -default-plan (limits.go)
	tls                tlsConfig // HTTPS: -tls, or a proxy's -tls-ask-addr (tls.go)
}

// poolConfig sizes the connection pools. Requests beyond the pool's size
// wait for a connection until their context deadline (then 503) instead
// of opening more: the server never takes more connections than these.
type poolConfig struct {
	dbMaxOpen, dbMaxIdle, adminMaxOpen   int
	dbConnMaxLifetime, dbConnMaxIdleTime time.Duration
	redisPoolSize                        int
	redisPoolTimeout                     time.Duration
}

func parseFlags(name string, args []string, stderr io.Writer) (config, []string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	fs.StringVar(&c.addr, "addr", envOr("CRM_ADDR", "127.0.0.1:8080"), "listen address (env CRM_ADDR)")
	fs.StringVar(&c.baseDomain, "base-domain", envOr("CRM_BASE_DOMAIN", "localhost"), "tenants are served on <slug>.<base-domain> (env CRM_BASE_DOMAIN)")
	fs.StringVar(&c.platformHost, "platform-host", envOr("CRM_PLATFORM_HOST", ""), "host of the operator API (env CRM_PLATFORM_HOST; default platform.<base-domain>)")
	fs.BoolVar(&c.demo, "demo", envOr("CRM_DEMO", "true") == "true", "seed demo data on an empty database (env CRM_DEMO)")
	fs.StringVar(&c.dataDir, "data", envOr("CRM_DATA", "crm-data"), "directory for the embedded database and files (env CRM_DATA)")
	fs.Func("migrate-tables", "comma-separated tables of the server's database that POST /admin/api/migrate-db/ may adopt (default: none, the endpoint refuses every table)", func(v string) error {
		c.migrateTables = nil
		for _, tb := range strings.Split(v, ",") {
			tb = strings.TrimSpace(tb)
			if tb == "" {
				continue
			}
			if !migrateTable.MatchString(tb) || slices.Contains(tenantTables, tb) {
				return fmt.Errorf("%q is not a plain lower-case table name apart from the CRM's tenant tables", tb)
			}
			c.migrateTables = append(c.migrateTables, tb)
		}
		return nil
	})
	fs.StringVar(&c.moveTo, "move-to-data", envOr("CRM_MOVE_TO_DATA", ""), "data directory of the instance POST /admin/api/tenants/{slug}/move/ moves tenants to (env CRM_MOVE_TO_DATA; default: no move endpoint)")
	fs.StringVar(&c.db, "db", envOr("CRM_DB", ""), "SQLite path or postgres:// URL of the application role (env CRM_DB; default <data>/crm.db)")
	fs.StringVar(&c.dbAdmin, "db-admin", envOr("CRM_DB_ADMIN", ""), "postgres:// URL of the table owner, for migrations (env CRM_DB_ADMIN; default -db)")
	fs.StringVar(&c.redis, "redis", envOr("CRM_REDIS", ""), "redis:// URL for cache and sessions (env CRM_REDIS; default in memory)")
	fs.StringVar(&c.blob, "blob", envOr("CRM_BLOB", ""), "gocloud.dev bucket URL: file:///abs/dir, mem:// (env CRM_BLOB; default the directory <data>/files)")
	fs.StringVar(&c.operator, "operator-token", envOr("CRM_OPERATOR_TOKEN", ""), "token of the operator API (env CRM_OPERATOR_TOKEN; default random, printed)")
	fs.BoolVar(&c.secureCookie, "secure-cookies", envOr("CRM_SECURE_COOKIES", "false") == "true", "force Secure __Host- cookies behind a TLS proxy (env CRM_SECURE_COOKIES)")
	fs.StringVar(&c.proxies, "trusted-proxies", envOr("CRM_TRUSTED_PROXIES", ""), "comma-separated CIDRs whose X-Forwarded-Host/Forwarded are trusted (env CRM_TRUSTED_PROXIES)")
	fs.StringVar(&c.accel, "accel-redirect", envOr("CRM_ACCEL_REDIRECT", ""), "serve downloads through nginx: X-Accel-Redirect to this internal location, such as /protected/media/ (env CRM_ACCEL_REDIRECT; see nginx.conf)")
	fs.StringVar(&c.trustedOrigins, "trusted-origins", envOr("CRM_TRUSTED_ORIGINS", ""), "comma-separated origins (https://app.example.com) allowed to send cookie-authenticated writes (env CRM_TRUSTED_ORIGINS)")
	fs.StringVar(&c.metricsAddr, "metrics-addr", envOr("CRM_METRICS_ADDR", ""), "also serve /metrics, without the operator token, on this address (env CRM_METRICS_ADDR; default only on the platform host, with the token)")
	fs.StringVar(&c.plans, "plans", envOr("CRM_PLANS", "acme=pro,globex=free"), "tenant plans as slug=plan, plans free, pro, unlimited (env CRM_PLANS)")
	fs.StringVar(&c.defaultPlan, "default-plan", envOr("CRM_DEFAULT_PLAN", "unlimited"), "plan of tenants not in -plans (env CRM_DEFAULT_PLAN)")
	cost, _ := strconv.Atoi(envOr("CRM_BCRYPT_COST", "10"))
	fs.IntVar(&c.bcryptCost, "bcrypt-cost", cost, "bcrypt cost of password hashes (env CRM_BCRYPT_COST)")
	var envErr error
	envInt := func(key string, def int) int {
		v, err := strconv.Atoi(envOr(key, strconv.Itoa(def)))
		if err != nil {
			envErr = errors.Join(envErr, fmt.Errorf("%s: %w", key, err))
		}
		return v
	}
	envDur := func(key string, def time.Duration) time.Duration {
		v, err := time.ParseDuration(envOr(key, def.String()))
		if err != nil {
			envErr = errors.Join(envErr, fmt.Errorf("%s: %w", key, err))
		}
		return v
	}
	fs.DurationVar(&c.readTimeout, "read-timeout", envDur("CRM_READ_TIMEOUT", 30*time.Second),
		"time to read a whole request, body included; a slower body is cut off (env CRM_READ_TIMEOUT)")
	fs.DurationVar(&c.readHeaderTimeout, "read-header-timeout", envDur("CRM_READ_HEADER_TIMEOUT", 5*time.Second),
		"time to read a request's headers (env CRM_READ_HEADER_TIMEOUT)")
	fs.DurationVar(&c.requestTimeout, "request-timeout", envDur("CRM_REQUEST_TIMEOUT", 15*time.Second),
		"deadline of a request's work, including the wait for a database connection; past it the answer is 503 (env CRM_REQUEST_TIMEOUT)")
	p := &c.pools
	fs.IntVar(&p.dbMaxOpen, "db-max-open", envInt("CRM_DB_MAX_OPEN", 32),
		"most open connections of the application's database pool (env CRM_DB_MAX_OPEN)")
	fs.IntVar(&p.dbMaxIdle, "db-max-idle", envInt("CRM_DB_MAX_IDLE", 0),
		"most idle connections kept by the application's pool (env CRM_DB_MAX_IDLE; default -db-max-open)")
	fs.IntVar(&p.adminMaxOpen, "db-admin-max-open", envInt("CRM_DB_ADMIN_MAX_OPEN", 8),
		"most open connections of the PostgreSQL owner pool: tenant lookups, migrations (env CRM_DB_ADMIN_MAX_OPEN)")
	fs.DurationVar(&p.dbConnMaxLifetime, "db-conn-max-lifetime", envDur("CRM_DB_CONN_MAX_LIFETIME", 30*time.Minute),
		"close database connections this old (env CRM_DB_CONN_MAX_LIFETIME)")
	fs.DurationVar(&p.dbConnMaxIdleTime, "db-conn-max-idle-time", envDur("CRM_DB_CONN_MAX_IDLE_TIME", 5*time.Minute),
		"close database connections idle this long (env CRM_DB_CONN_MAX_IDLE_TIME)")
	fs.IntVar(&p.redisPoolSize, "redis-pool-size", envInt("CRM_REDIS_POOL_SIZE", 32),
		"most Redis connections (env CRM_REDIS_POOL_SIZE)")
	fs.DurationVar(&p.redisPoolTimeout, "redis-pool-timeout", envDur("CRM_REDIS_POOL_TIMEOUT", 2*time.Second),
		"longest wait for a free Redis connection (env CRM_REDIS_POOL_TIMEOUT)")
	if err := tlsFlags(fs, &c.tls); err != nil {
		envErr = errors.Join(envErr, err)
	}
	if envErr != nil {
		return c, nil, envErr
	}
	if err := fs.Parse(args); err != nil {
		return c, nil, err
	}
	if err := checkAccelRedirect(c.accel); err != nil {
		return c, nil, err
	}
	if p.dbMaxIdle == 0 {
		// As many idle as open: a pool that keeps fewer idle than it
		// opens closes and reopens backends under load (churn).
		p.dbMaxIdle = p.dbMaxOpen
	}
	if err := c.checkLimits(); err != nil {
		return c, nil, err
	}
	if c.platformHost == "" {
		c.platformHost = "platform." + c.baseDomain
	}
	// Canonical, as every host they are compared with (customHost, the
	// resolver): "Example.COM." would otherwise never match a tenant's
	// custom domain "example.com", and the rule would fail open.
	for _, h := range []struct {
		flag string
		v    *string
	}{{"-base-domain", &c.baseDomain}, {"-platform-host", &c.platformHost}} {
		n, err := resolve.Normalize(*h.v)
		if err != nil {
			return c, nil, fmt.Errorf("%s %q: %w", h.flag, *h.v, err)
		}
		*h.v = n
	}
	// Every default path is derived from the absolute data directory, so
	// that no default depends on how a URL parser reads a relative path.
	if c.dataDir == "" {
		return c, nil, fmt.Errorf("-data: empty directory")
	}
	abs, err := filepath.Abs(c.dataDir)
	if err != nil {
		return c, nil, fmt.Errorf("-data %q: %w", c.dataDir, err)
	}
	c.dataDir = abs
	if c.db == "" {
		c.db = filepath.Join(abs, "crm.db")
	}
	if !isPostgresURL(c.db) && strings.ContainsAny(c.db, "?#") {
		// The SQLite driver cuts its file name at '?': such a path would
		// open another file than the one named.
		return c, nil, fmt.Errorf("-db %q: a SQLite path must not contain '?' or '#'", c.db)
	}
	if c.dbAdmin == "" {
		c.dbAdmin = c.db
	}
	if c.blob == "" {
		c.blob = fileBucketURL(filepath.Join(abs, "files"))
	}
	return c, fs.Args(), nil
}

// checkLimits refuses timeouts and pool sizes that would unbound what
// they are meant to bound: zero means "no limit" to net/http and
// database/sql, so it is not accepted.
func (c config) checkLimits() error {
	p := c.pools
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{{"-read-timeout", c.readTimeout}, {"-read-header-timeout", c.readHeaderTimeout}, {"-request-timeout", c.requestTimeout},
		{"-db-conn-max-lifetime", p.dbConnMaxLifetime}, {"-db-conn-max-idle-time", p.dbConnMaxIdleTime}, {"-redis-pool-timeout", p.redisPoolTimeout}} {
		if d.v <= 0 {
			return fmt.Errorf("%s %v: must be positive", d.flag, d.v)
		}
	}
	for _, n := range []struct {
		flag string
		v    int
	}{{"-db-max-open", p.dbMaxOpen}, {"-db-max-idle", p.dbMaxIdle}, {"-db-admin-max-open", p.adminMaxOpen}, {"-redis-pool-size", p.redisPoolSize}} {
		if n.v <= 0 {
			return fmt.Errorf("%s %d: must be positive", n.flag, n.v)
		}
	}
	if p.dbMaxIdle > p.dbMaxOpen {
		return fmt.Errorf("-db-max-idle %d: more than -db-max-open %d", p.dbMaxIdle, p.dbMaxOpen)
	}
	return nil
}

// fileBucketURL is the gocloud.dev fileblob URL of the absolute directory
// dir. The path goes in the URL's path, escaped by net/url: written as
// "file://" + dir, a relative dir would become the URL's host, which
// fileblob ignores, so "crm-data/files" meant "/files". no_tmp_dir keeps
// the temporary file of an upload next to its final path (inside dir)
// rather than in os.TempDir; create_dir makes dir, and dir_file_mode keeps
// the directories it makes private to the server's user and group.
func fileBucketURL(dir string) string {
	q := url.Values{"create_dir": {"true"}, "no_tmp_dir": {"true"}, "dir_file_mode": {"0750"}}
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(dir), RawQuery: q.Encode()}).String()
}

// isPostgresURL reports whether a -db value names PostgreSQL rather than a
// SQLite file.
func isPostgresURL(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

func envOr(key, def string) string {
	if v, ok := os.LookupEnv(key); ok {
		return v
	}
	return def
}

// redactDSN hides a password in a database URL for logs.
func redactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		return dsn
	}
	return u.Redacted()
}
