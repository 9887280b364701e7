// Command notes is a small notes service written the way many existing Go
// services are: net/http, database/sql on PostgreSQL through pgx's stdlib
// driver, and a Redis cache. It is made multi-tenant with tenantwall
// exactly as the repository README's "Adopt it in an existing service"
// section says; see README.md.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/redis/go-redis/v9"

	"github.com/tenantwall/tenantwall/cachekey"
	"github.com/tenantwall/tenantwall/resolve"
	"github.com/tenantwall/tenantwall/sqlscope"
	"github.com/tenantwall/tenantwall/sqlscope/sqlstore"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "notes:", err)
		os.Exit(1)
	}
}

// config is what the service needs to start.
type config struct {
	ownerURL   string // migrations: creates tables, enables row level security
	appURL     string // requests: a role that is not superuser, BYPASSRLS or owner
	redisURL   string
	baseDomain string // tenants are <slug>.<baseDomain>
}

func run(args []string) error {
	fs := flag.NewFlagSet("notes", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8081", "listen address")
	var cfg config
	fs.StringVar(&cfg.ownerURL, "db", os.Getenv("NOTES_DATABASE_URL"), "PostgreSQL URL of the owner role (migrations); empty: a demo database on -demo-server")
	fs.StringVar(&cfg.appURL, "app-db", os.Getenv("NOTES_APP_DATABASE_URL"), "PostgreSQL URL of the application role (requests)")
	fs.StringVar(&cfg.redisURL, "redis", envOr("NOTES_REDIS_URL", "redis://127.0.0.1:6379/0"), "Redis URL")
	fs.StringVar(&cfg.baseDomain, "base-domain", "notes.localhost", "tenants are served on <slug>.<base-domain>")
	demoServer := fs.String("demo-server", envOr("TENANTWALL_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"),
		"with -db empty: an administrator URL on which to create the demo database, roles and tenants")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	if cfg.ownerURL == "" {
		var err error
		if cfg, err = demo(ctx, *demoServer, cfg); err != nil {
			return fmt.Errorf("demo setup: %w", err)
		}
	}
	handler, closeAll, err := setup(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeAll()
	srv := &http.Server{Addr: *addr, Handler: handler, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	slog.Info("notes listening", "addr", *addr, "try", "curl -H 'Host: acme."+cfg.baseDomain+"' http://"+*addr+"/notes/")
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// setup migrates as the owner, checks the application role, and returns
// the service's handler with the tenant resolved from the host.
func setup(ctx context.Context, cfg config) (http.Handler, func(), error) {
	owner, err := sql.Open("pgx", cfg.ownerURL)
	if err != nil {
		return nil, nil, err
	}
	defer owner.Close()
	if err := migrate(ctx, owner); err != nil {
		return nil, nil, fmt.Errorf("migrate: %w", err)
	}

	app, err := sql.Open("pgx", cfg.appURL)
	if err != nil {
		return nil, nil, err
	}
	// A bounded pool that keeps its connections: past 16 busy ones a
	// request waits (until its deadline) instead of opening more, and
	// none is closed and reopened between requests. Keep the sum over all
	// processes below PostgreSQL's max_connections.
	app.SetMaxOpenConns(16)
	app.SetMaxIdleConns(16)
	app.SetConnMaxLifetime(30 * time.Minute)
	opt, err := redis.ParseURL(cfg.redisURL)
	if err != nil {
		app.Close()
		return nil, nil, err
	}
	opt.PoolSize, opt.PoolTimeout = 16, 2*time.Second
	rdb := redis.NewClient(opt)
	closeAll := func() { rdb.Close(); app.Close() }
	handler, closeKeys, err := newHandler(ctx, app, rdb, cfg.baseDomain)
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	return handler, func() { closeKeys(); closeAll() }, nil
}

// newHandler wires tenantwall around the service's routes. Call stop
// at shutdown: it stops the keyspace's invalidation subscriber.
func newHandler(ctx context.Context, app *sql.DB, rdb *redis.Client, baseDomain string) (h http.Handler, stop func() error, err error) {
	rls, err := scopedDB(ctx, app)
	if err != nil {
		return nil, nil, err
	}
	keys, err := guardedCache(rdb)
	if err != nil {
		return nil, nil, err
	}
	h, err = tenantRoutes(app, rls, rdb, keys, baseDomain)
	if err != nil {
		keys.Close()
		return nil, nil, err
	}
	return h, keys.Close, nil
}

// tenantRoutes resolves the tenant from the host before the routes.
func tenantRoutes(app *sql.DB, rls *sqlscope.RLS, rdb *redis.Client, keys *cachekey.Keyspace, baseDomain string) (http.Handler, error) {
	// readme:resolve
	tenants, err := sqlstore.New(app, sqlscope.Postgres) // or tenant.NewMemStore() in tests
	if err != nil {
		return nil, err
	}
	res, err := resolve.New(tenants, resolve.WithBaseDomain(baseDomain)) // acme.notes.localhost → acme
	if err != nil {
		return nil, err
	}
	return res.Middleware(newServer(rls, rdb, keys).routes()), nil
	// readme:end
}

// scopedDB checks the application role and returns the RLS runner every
// query goes through.
func scopedDB(ctx context.Context, app *sql.DB) (*sqlscope.RLS, error) {
	// readme:check
	// NewRLS refuses a role that row level security does not bind: superuser,
	// BYPASSRLS, CREATEROLE, owner of a tenant table, one that reaches the
	// server's files or programs, or a member of one. Audit reports
	// everything else that could let one tenant read another's rows.
	rls, err := sqlscope.NewRLS(ctx, app)
	if err != nil {
		return nil, err
	}
	findings, err := sqlscope.Audit(ctx, app, nil)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	if err := findings.Err(); err != nil {
		return nil, err
	}
	return rls, nil
	// readme:end
}

// guardedCache returns the tenant keyspace and fences the Redis client in.
func guardedCache(rdb *redis.Client) (*cachekey.Keyspace, error) {
	// readme:guard
	keys, err := cachekey.New(rdb)
	if err != nil {
		return nil, err
	}
	guard, err := keys.Guard()
	if err != nil {
		return nil, err
	}
	rdb.AddHook(guard) // any command on a key outside the request tenant's namespace fails
	return keys, nil
	// readme:end
}

// migrate creates the tables and isolates the tenant tables; run as the
// owner role.
func migrate(ctx context.Context, owner *sql.DB) error {
	// readme:migrate
	// The tenant registry: tenantwall_tenants and tenantwall_domains.
	tenants, err := sqlstore.New(owner, sqlscope.Postgres)
	if err != nil {
		return err
	}
	if err := tenants.Migrate(ctx); err != nil {
		return err
	}
	_, err = owner.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS notes (
		id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
		tenant_id text NOT NULL, -- added for tenancy
		title text NOT NULL,
		body text NOT NULL DEFAULT '',
		created_at timestamptz NOT NULL DEFAULT now())`)
	if err != nil {
		return err
	}
	// As the owner: FORCE ROW LEVEL SECURITY, the policy, tenant_id's
	// default; "" is the default setting name, tenantwall.tenant_id.
	return sqlscope.EnableRLS(ctx, owner, "", "notes")
	// readme:end
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
