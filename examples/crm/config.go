package main

import (
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// config is the server's configuration: flags, with environment variables
// as their defaults.
type config struct {
	addr         string
	baseDomain   string
	platformHost string
	demo         bool
	db           string // SQLite file path, or a postgres:// URL (the application role)
	dbAdmin      string // postgres:// URL of the owner role for migrations (default: db)
	redis        string // redis:// URL; empty: in-memory cache and sessions
	blob         string // gocloud.dev bucket URL
	dataDir      string
	operator     string // operator API token
	secureCookie bool   // force Secure/__Host- cookies (behind a TLS proxy)
	proxies      string // comma-separated CIDRs of trusted reverse proxies
	bcryptCost   int

	// trustedOrigins: comma-separated origins whose cookie-authenticated
	// writes pass the cross-origin check.
	trustedOrigins string
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
	fs.StringVar(&c.db, "db", envOr("CRM_DB", ""), "SQLite path or postgres:// URL of the application role (env CRM_DB; default <data>/crm.db)")
	fs.StringVar(&c.dbAdmin, "db-admin", envOr("CRM_DB_ADMIN", ""), "postgres:// URL of the table owner, for migrations (env CRM_DB_ADMIN; default -db)")
	fs.StringVar(&c.redis, "redis", envOr("CRM_REDIS", ""), "redis:// URL for cache and sessions (env CRM_REDIS; default in memory)")
	fs.StringVar(&c.blob, "blob", envOr("CRM_BLOB", ""), "gocloud.dev bucket URL: file:///abs/dir, mem:// (env CRM_BLOB; default the directory <data>/files)")
	fs.StringVar(&c.operator, "operator-token", envOr("CRM_OPERATOR_TOKEN", ""), "token of the operator API (env CRM_OPERATOR_TOKEN; default random, printed)")
	fs.BoolVar(&c.secureCookie, "secure-cookies", envOr("CRM_SECURE_COOKIES", "false") == "true", "force Secure __Host- cookies behind a TLS proxy (env CRM_SECURE_COOKIES)")
	fs.StringVar(&c.proxies, "trusted-proxies", envOr("CRM_TRUSTED_PROXIES", ""), "comma-separated CIDRs whose X-Forwarded-Host/Forwarded are trusted (env CRM_TRUSTED_PROXIES)")
	fs.StringVar(&c.trustedOrigins, "trusted-origins", envOr("CRM_TRUSTED_ORIGINS", ""), "comma-separated origins (https://app.example.com) allowed to send cookie-authenticated writes (env CRM_TRUSTED_ORIGINS)")
	cost, _ := strconv.Atoi(envOr("CRM_BCRYPT_COST", "10"))
	fs.IntVar(&c.bcryptCost, "bcrypt-cost", cost, "bcrypt cost of password hashes (env CRM_BCRYPT_COST)")
	if err := fs.Parse(args); err != nil {
		return c, nil, err
	}
	if c.platformHost == "" {
		c.platformHost = "platform." + c.baseDomain
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
