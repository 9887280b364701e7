package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"gocloud.dev/blob"
	_ "gocloud.dev/blob/fileblob" // file:// buckets
	_ "gocloud.dev/blob/memblob"  // mem:// buckets
	_ "gocloud.dev/blob/s3blob"   // s3:// buckets
	"gocloud.dev/secrets"
	"gocloud.dev/secrets/localsecrets" // also registers base64key:// keepers
	_ "modernc.org/sqlite"             // the embedded database

	"github.com/tenantwall/tenantwall/blobstore"
	"github.com/tenantwall/tenantwall/blobstore/redisquota"
	"github.com/tenantwall/tenantwall/cachekey"
	"github.com/tenantwall/tenantwall/credentials"
	credstore "github.com/tenantwall/tenantwall/credentials/sqlstore"
	"github.com/tenantwall/tenantwall/jobs"
	"github.com/tenantwall/tenantwall/jwtclaims"
	"github.com/tenantwall/tenantwall/lifecycle"
	"github.com/tenantwall/tenantwall/ratelimit"
	"github.com/tenantwall/tenantwall/resolve"
	"github.com/tenantwall/tenantwall/session"
	"github.com/tenantwall/tenantwall/sqlscope"
	"github.com/tenantwall/tenantwall/sqlscope/sqlstore"
	"github.com/tenantwall/tenantwall/telemetry"
	"github.com/tenantwall/tenantwall/tenant"

	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL
)

// app holds the server's parts. Handlers stay thin over the library.
type app struct {
	cfg      config
	log      *slog.Logger
	auditor  tenant.Auditor
	tenants  tenant.Store
	resolver *resolve.Resolver
	data     *data
	keyspace *cachekey.Keyspace // Redis with -redis, else this process's memory
	dash     dashCache
	sessions *session.Manager
	tokens   *jwtclaims.Authority
	keys     *vaultKeys
	files    *blobstore.Store
	bucket   *blob.Bucket
	hub      *hub
	vault    *credentials.Vault
	redis    redis.UniversalClient
	jobs     jobClient      // River, through the tenant envelope (jobs.go)
	jobsEnv  *jobs.Envelope // that envelope: lists a tenant's jobs (jobs.go)
	closers  []func() error

	metrics        *telemetry.Metrics // telemetry.go
	metricsHandler http.Handler       // telemetry.go
	limiter        *ratelimit.Limiter // limits.go
	rateKeys       rateKeyDeleter     // the limiter's store, for tenant deletion (lifecycle.go)
	plans          planBook           // limits.go
	fileUse        *redisquota.Ledger // storage use in Redis, with -redis (filequota.go)
	lifecycle      *lifecycle.Manager // lifecycle.go
	lifecycleOpts  []lifecycle.Option // lifecycle.go: the options lifecycle was built with, but the archive keys
	archiveKeys    [][]byte           // lifecycle.go: the first signs tenant archives, each verifies

	precomputeAsked *sync.Map // tenant ID → time.Time before which no precompute job is enqueued again (jobs.go)
}

func newApp(ctx context.Context, cfg config, log *slog.Logger) (*app, error) {
	a := &app{cfg: cfg, log: log, auditor: tenant.LogAuditor{Logger: log}, hub: newHub(), precomputeAsked: new(sync.Map)}
	ok := false
	defer func() {
		if !ok {
			a.close()
		}
	}()
	var err error
	if a.plans, err = parsePlans(cfg.plans, cfg.defaultPlan); err != nil {
		return nil, err
	}
	if err := a.openTelemetry(); err != nil {
		return nil, err
	}
	if err := a.openDatabase(ctx); err != nil {
		return nil, err
	}
	if err := a.openCacheAndSessions(ctx); err != nil {
		return nil, err
	}
	if err := a.openFiles(ctx); err != nil {
		return nil, err
	}
	if err := a.openVault(ctx); err != nil {
		return nil, err
	}
	if err := a.openJobs(ctx); err != nil {
		return nil, err
	}
	a.keys = newVaultKeys(a.vault)
	if a.tokens, err = jwtclaims.New(a.keys, "https://"+cfg.platformHost, "crm", jwtclaims.WithAuditor(a.auditor),
		jwtclaims.WithVerifiedCache(verifiedTokens)); err != nil {
		return nil, err
	}
	proxies := splitList(cfg.proxies)
	peers, err := a.peerOptions()
	if err != nil {
		return nil, err
	}
	if a.resolver, err = resolve.New(a.tenants, append(peers,
		resolve.WithBaseDomain(cfg.baseDomain),
		resolve.WithTrustedProxies(proxies...),
		resolve.WithAuditor(a.auditor),
		resolve.WithEmptyOrigin(true), // non-browser WebSocket clients send none
		resolve.WithNotFoundHandler(hostNotFound()),
		resolve.WithSuspendedHandler(hostSuspended()),
		resolve.WithErrorHandler(unavailableHandler),
		resolve.WithObserver(a.metrics),
	)...); err != nil {
		return nil, err
	}
	if err := a.openLimits(); err != nil {
		return nil, err
	}
	if err := a.openLifecycle(ctx); err != nil {
		return nil, err
	}
	if cfg.demo {
		if err := a.seedDemo(ctx); err != nil {
			return nil, fmt.Errorf("seed demo data: %w", err)
		}
	}
	ok = true
	return a, nil
}

func (a *app) close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		_ = a.closers[i]()
	}
}

func (a *app) openDatabase(ctx context.Context) error {
	dialect, driver := sqlscope.SQLite, "sqlite"
	dsn, adminDSN := a.cfg.db, a.cfg.dbAdmin
	if isPostgresURL(dsn) {
		dialect, driver = sqlscope.Postgres, "pgx"
	} else {
		if err := os.MkdirAll(filepath.Dir(dsn), 0o750); err != nil {
			return err
		}
		// _txlock=immediate: a write request's unit of work takes the
		// write lock at BEGIN (sqlscope.Units.Middleware).
		dsn += "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_txlock=immediate"
		adminDSN = dsn
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return err
	}
	a.closers = append(a.closers, db.Close)
	p := a.cfg.pools
	bound(db, p.dbMaxOpen, p.dbMaxIdle, p)
	admin := db
	if adminDSN != dsn {
		if admin, err = sql.Open(driver, adminDSN); err != nil {
			return err
		}
		a.closers = append(a.closers, admin.Close)
		bound(admin, p.adminMaxOpen, p.adminMaxOpen, p)
	}
	if err := db.PingContext(ctx); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	if a.data, err = newData(ctx, db, admin, dialect); err != nil {
		return err
	}
	store, err := sqlstore.New(admin, dialect)
	if err != nil {
		return err
	}
	if err := store.Migrate(ctx); err != nil {
		return err
	}
	a.tenants = store
	if dialect == sqlscope.Postgres {
		// Refuse to serve on a database whose isolation is not enforced.
		findings, err := sqlscope.Audit(ctx, db, nil)
		if err != nil {
			return fmt.Errorf("isolation audit: %w", err)
		}
		if err := findings.Err(); err != nil {
			return fmt.Errorf("refusing to start: %w", err)
		}
	}
	return nil
}

// bound sizes a database pool: at most maxOpen connections, of which
// maxIdle stay open between requests. database/sql makes a query wait for a
// free connection, until its context's deadline, rather than open more.
func bound(db *sql.DB, maxOpen, maxIdle int, p poolConfig) {
	db.SetMaxOpenConns(maxOpen)
	db.SetMaxIdleConns(maxIdle)
	db.SetConnMaxLifetime(p.dbConnMaxLifetime)
	db.SetConnMaxIdleTime(p.dbConnMaxIdleTime)
}

func (a *app) openCacheAndSessions(ctx context.Context) error {
	var store session.Store = session.NewMemStore()
	var err error
	if a.cfg.redis == "" {
		if a.keyspace, err = cachekey.NewMemory(cachekey.WithMemoryAuditor(a.auditor)); err != nil {
			return err
		}
	} else {
		opt, err := redis.ParseURL(a.cfg.redis)
		if err != nil {
			return fmt.Errorf("redis: %w", err)
		}
		// A full pool makes a command wait up to PoolTimeout, never open
		// more connections than PoolSize.
		opt.PoolSize, opt.PoolTimeout = a.cfg.pools.redisPoolSize, a.cfg.pools.redisPoolTimeout
		rdb := redis.NewClient(opt)
		a.closers = append(a.closers, rdb.Close)
		if err := rdb.Ping(ctx).Err(); err != nil {
			return fmt.Errorf("redis: %w", err)
		}
		a.redis = rdb
		// The cache gets a client of its own, fenced in by the Guard: a
		// command on any key outside the request tenant's namespace, a
		// script or a keyspace-wide command fails before it is sent. The
		// session store keeps its keys (token hashes under crmsess) on
		// the other client.
		cacheClient := redis.NewClient(opt)
		a.closers = append(a.closers, cacheClient.Close)
		if a.keyspace, err = cachekey.New(cacheClient, cachekey.WithAuditor(a.auditor), cachekey.WithLogger(a.log), cachekey.WithRefresh(peerRefresh)); err != nil {
			return err
		}
		guard, err := a.keyspace.Guard()
		if err != nil {
			return err
		}
		cacheClient.AddHook(guard)
		if store, err = session.NewRedisStore(rdb, "crmsess"); err != nil {
			return err
		}
	}
	a.closers = append(a.closers, a.keyspace.Close)
	if a.dash, err = cachekey.NewCache[overview](a.keyspace, 5*time.Minute, cachekey.WithObserver(a.metrics)); err != nil {
		return err
	}
	// Cookie-authenticated writes from another origin — a sibling tenant's
	// subdomain is same-site, so SameSite=Lax does not stop them — are
	// refused by the session middleware; bearer requests are not affected.
	opts := []session.Option{session.WithAuditor(a.auditor),
		session.WithDenyHandler(jsonError(http.StatusForbidden, "cross-origin request refused")),
		session.WithErrorHandler(unavailableHandler),
		session.WithTrustedOrigins(splitList(a.cfg.trustedOrigins)...)}
	if a.cfg.secureCookie {
		opts = append(opts, session.WithSecure(true))
	}
	a.sessions, err = session.New(store, opts...)
	return err
}

func (a *app) openFiles(ctx context.Context) error {
	b, err := blob.OpenBucket(ctx, a.cfg.blob)
	if err != nil {
		return fmt.Errorf("blob storage %q: %w", a.cfg.blob, err)
	}
	a.bucket = b
	a.closers = append(a.closers, b.Close)
	ledger, err := a.fileLedger()
	if err != nil {
		return err
	}
	a.files, err = blobstore.New(b, append([]blobstore.Option{blobstore.WithAuditor(a.auditor), blobstore.WithMaxSize(25 << 20),
		blobstore.WithQuota(a.fileQuota), blobstore.WithObserver(a.metrics)}, ledger...)...)
	return err
}

// openVault keeps tenants' integration API keys encrypted in the
// application database, with the gocloud.dev secrets keeper at
// CRM_SECRETS_URL (any KMS: awskms://, gcpkms://, azurekeyvault://,
// base64key://) or else a localsecrets key generated on first start in the
// data directory (or given base64 in CRM_SECRETS_KEY).
func (a *app) openVault(ctx context.Context) error {
	// credentials has its own dialect type: it does not depend on sqlscope.
	d := credstore.SQLite
	if a.data.dialect == sqlscope.Postgres {
		d = credstore.Postgres
	}
	store, err := credstore.New(a.data.admin, d)
	if err != nil {
		return err
	}
	if err := store.Migrate(ctx); err != nil {
		return err
	}
	keys, err := a.openKeyStore(ctx) // keystore.go: apart from this database
	if err != nil {
		return err
	}
	if u := os.Getenv("CRM_SECRETS_URL"); u != "" {
		keeper, err := secrets.OpenKeeper(ctx, u)
		if err != nil {
			return fmt.Errorf("CRM_SECRETS_URL: %w", err)
		}
		a.closers = append(a.closers, keeper.Close)
		a.vault, err = credentials.New(keeper, store, credentials.WithAuditor(a.auditor), credentials.WithDataKeys(keys))
		return err
	}
	var key [32]byte
	if env := os.Getenv("CRM_SECRETS_KEY"); env != "" {
		k, err := localsecrets.Base64Key(env)
		if err != nil {
			return fmt.Errorf("CRM_SECRETS_KEY: %w", err)
		}
		key = k
	} else {
		path := filepath.Join(a.cfg.dataDir, "secrets.key")
		b, err := os.ReadFile(path)
		switch {
		case errors.Is(err, os.ErrNotExist):
			if key, err = localsecrets.NewRandomKey(); err != nil {
				return err
			}
			if err := os.MkdirAll(a.cfg.dataDir, 0o750); err != nil {
				return err
			}
			if err := os.WriteFile(path, key[:], 0o600); err != nil {
				return err
			}
		case err != nil:
			return err
		case len(b) != 32:
			return fmt.Errorf("%s: want a 32-byte key", path)
		default:
			copy(key[:], b)
		}
	}
	keeper := localsecrets.NewKeeper(key)
	a.closers = append(a.closers, keeper.Close)
	// Each tenant's credentials under a data key of its own, destroyed
	// when the tenant is deleted (crypto-shredding).
	a.vault, err = credentials.New(keeper, store, credentials.WithAuditor(a.auditor), credentials.WithDataKeys(keys))
	return err
}

// routes is the whole server: health checks and the operator API on the
// platform host, everything else behind tenant resolution.
func (a *app) routes() http.Handler {
	api := http.NewServeMux()
	api.HandleFunc("GET /api/tenant-branding/", a.branding)
	api.HandleFunc("POST /api/auth/login/", a.login)
	api.HandleFunc("POST /api/auth/logout/", a.logout)
	api.HandleFunc("GET /api/auth/me/", a.authed(a.me))
	api.HandleFunc("POST /api/auth/token/", a.token)
	api.HandleFunc("POST /api/auth/token/refresh/", a.refresh)
	for path, rs := range resources {
		a.resourceRoutes(api, path, rs)
	}
	a.documentRoutes(api)
	api.HandleFunc("GET /api/dashboard/overview/", a.authed(a.dashboard))
	a.pageRoutes(api) // the web pages: pages.go
	api.HandleFunc("/", a.pathNotFound)
	// The WebSocket lives as long as its client: it is the one route
	// without the request deadline.
	tenantSide := http.NewServeMux()
	tenantSide.Handle("GET /ws/notifications", a.resolver.Middleware(a.metrics.Middleware(a.sessions.Middleware(a.limiter.Middleware(a.authed(a.notificationsSocket))))))
	tenantSide.Handle("/", withRequestLimits(a.cfg.requestTimeout, a.resolver.Middleware(a.metrics.Middleware(a.sessions.Middleware(a.limiter.Middleware(a.withUnits(api)))))))
	tenantResources := sameOriginResources(tenantSide) // isolation.go

	platformSide := withRequestLimits(a.cfg.requestTimeout, a.operatorRoutes())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.misdirected(r) { // SNI and Host served for different tenants (tls.go)
			writeError(w, http.StatusMisdirectedRequest, "misdirected request")
			return
		}
		switch r.URL.Path {
		case "/healthz":
			writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
			return
		case "/readyz":
			a.ready(w, r)
			return
		}
		if host, err := resolve.Normalize(r.Host); err == nil && host == a.cfg.platformHost {
			if r.URL.Path == "/metrics" {
				a.serveMetricsOnPlatform(w, r)
				return
			}
			platformSide.ServeHTTP(w, r)
			return
		}
		tenantResources.ServeHTTP(w, r)
	})
}

func (a *app) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	checks := map[string]string{"database": "ok", "cache": "ok", "blob": "ok"}
	code := http.StatusOK
	fail := func(name string, err error) {
		checks[name] = "unavailable"
		code = http.StatusServiceUnavailable
		a.log.WarnContext(ctx, "readiness check failed", "check", name, "err", err)
	}
	if err := a.data.db.PingContext(ctx); err != nil {
		fail("database", err)
	}
	if a.redis != nil {
		if err := a.redis.Ping(ctx).Err(); err != nil {
			fail("cache", err)
		}
	}
	if ok, err := a.bucket.IsAccessible(ctx); err != nil || !ok {
		fail("blob", fmt.Errorf("not accessible: %v", err))
	}
	if code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", retryAfter)
	}
	writeJSON(w, code, checks)
}

// respond writes v with code, or the JSON error err maps to.
func (a *app) respond(w http.ResponseWriter, r *http.Request, code int, v any, err error) {
	if err == nil {
		writeJSON(w, code, v)
		return
	}
	code, msg := a.classify(r, err)
	if code == http.StatusServiceUnavailable {
		writeUnavailable(w)
		return
	}
	writeError(w, code, msg)
}

// classify maps a failed request's error to its status and the message a
// client may see, and logs what is the server's own failure: one table
// for the API's JSON answers (respond) and the web pages (pageFailed).
func (a *app) classify(r *http.Request, err error) (int, string) {
	var bad badRequest
	var media unsupportedMediaType
	switch {
	case errors.As(err, &bad):
		return http.StatusBadRequest, bad.msg
	case errors.As(err, &media):
		return http.StatusUnsupportedMediaType, media.Error()
	case errors.Is(err, errNotFound), errors.Is(err, blobstore.ErrNotFound), errors.Is(err, tenant.ErrNoTenant):
		return http.StatusNotFound, "not found"
	case errors.Is(err, errSlowBody):
		return http.StatusRequestTimeout, "request body too slow"
	case unavailable(err):
		a.log.WarnContext(r.Context(), "backing service unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
		return http.StatusServiceUnavailable, "service unavailable"
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client left; nobody reads this answer, and it is no failure.
		return http.StatusServiceUnavailable, "service unavailable"
	case tooLarge(err):
		return http.StatusRequestEntityTooLarge, "body too large"
	}
	a.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	return http.StatusInternalServerError, "internal error"
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

func jsonError(code int, msg string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { writeError(w, code, msg) })
}

// splitList splits a comma-separated flag value, dropping blanks.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func randomToken() string {
	var b [24]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
