package main

import (
	"flag"
	"io"
	"net/url"
	"os"
	"strconv"
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
	fs.StringVar(&c.blob, "blob", envOr("CRM_BLOB", ""), "gocloud.dev bucket URL: file://…, mem:// (env CRM_BLOB; default file://<data>/files)")
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
	if c.db == "" {
		c.db = c.dataDir + "/crm.db"
	}
	if c.dbAdmin == "" {
		c.dbAdmin = c.db
	}
	if c.blob == "" {
		c.blob = "file://" + c.dataDir + "/files?create_dir=true"
	}
	return c, fs.Args(), nil
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
