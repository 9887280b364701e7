package sqlscopetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
)

// Database is a throwaway PostgreSQL database laid out the way tenantwall
// wants a production one: an owner role that creates the tables and
// enables row level security, and an application role that only reads and
// writes rows. The application role is neither superuser, nor BYPASSRLS,
// nor the owner of any table, nor a member of a role that is, so row level
// security applies to it; it holds SELECT, INSERT, UPDATE and DELETE on
// every table and USAGE and SELECT on every sequence the owner creates in
// the public schema (default privileges), and nothing else.
//
// Everything is dropped when the test ends: the handles are closed, the
// database is dropped with FORCE and both roles are dropped. A Database is
// safe for concurrent use; its fields must not be changed.
type Database struct {
	// Name is the database's random name.
	Name string
	// OwnerRole and AppRole are the two roles' random names.
	OwnerRole, AppRole string
	// OwnerURL and AppURL connect to the database as each role, with the
	// role's random password.
	OwnerURL, AppURL string
	// Owner is an open handle as the owner role: run migrations, EnableRLS
	// and Audit with it.
	Owner *sql.DB
	// App is an open handle as the application role: serve requests with
	// it, through sqlscope.RLS or pgxscope. Owner and App each keep at most
	// 8 connections, all of them idle between uses.
	App *sql.DB
}

// Option configures NewDatabase.
type Option func(*options) error

type options struct {
	required bool
	timeout  time.Duration
}

// WithRequired makes NewDatabase fail the test, instead of skipping it,
// when the server cannot be reached or serverURL is empty. Use it in CI,
// where a skipped isolation test would hide a broken setup. Default: skip.
func WithRequired(required bool) Option {
	return func(o *options) error { o.required = required; return nil }
}

// WithTimeout bounds each setup and cleanup step. Default: 30 seconds.
func WithTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("sqlscopetest: WithTimeout(%v): want a positive duration", d)
		}
		o.timeout = d
		return nil
	}
}

// NewDatabase creates a Database on the PostgreSQL server at serverURL, a
// URL of a role allowed to create databases and roles (for example
// postgres://postgres@127.0.0.1:5432/postgres). Without a serverURL, or
// when the server cannot be reached, the test is skipped with a message
// that says so (failed with WithRequired(true)).
func NewDatabase(t testing.TB, serverURL string, opts ...Option) *Database {
	t.Helper()
	o := options{timeout: 30 * time.Second}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			t.Fatal(err)
		}
	}
	unavailable := func(err error) {
		t.Helper()
		if o.required {
			t.Fatalf("sqlscopetest: PostgreSQL is required but unavailable: %v", err)
		}
		t.Skipf("sqlscopetest: skipping, PostgreSQL unavailable: %v", err)
	}
	if serverURL == "" {
		unavailable(fmt.Errorf("no server URL given"))
	}
	base, err := url.Parse(serverURL)
	if err != nil {
		t.Fatalf("sqlscopetest: server URL: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	admin, err := sql.Open("pgx", serverURL)
	if err == nil {
		err = admin.PingContext(ctx)
	}
	if err != nil {
		if admin != nil {
			admin.Close()
		}
		unavailable(fmt.Errorf("%s: %w", base.Redacted(), err))
	}

	suffix := randomHex(6)
	d := &Database{Name: "tw_" + suffix, OwnerRole: "tw_owner_" + suffix, AppRole: "tw_app_" + suffix}
	ownerPass, appPass := randomHex(16), randomHex(16)
	// Roles and the database are names we made; passwords are hex. Nothing
	// from outside is interpolated.
	setup := []string{
		`CREATE ROLE ` + d.OwnerRole + ` LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE PASSWORD '` + ownerPass + `'`,
		`CREATE ROLE ` + d.AppRole + ` LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT PASSWORD '` + appPass + `'`,
		`CREATE DATABASE ` + d.Name + ` OWNER ` + d.OwnerRole,
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
		defer cancel()
		for _, db := range []*sql.DB{d.App, d.Owner} {
			if db != nil {
				db.Close()
			}
		}
		for _, s := range []string{
			`DROP DATABASE IF EXISTS ` + d.Name + ` WITH (FORCE)`,
			`DROP ROLE IF EXISTS ` + d.AppRole,
			`DROP ROLE IF EXISTS ` + d.OwnerRole,
		} {
			if _, err := admin.ExecContext(ctx, s); err != nil {
				t.Errorf("sqlscopetest: cleanup %q: %v", s, err)
			}
		}
		admin.Close()
	})
	for _, s := range setup {
		if _, err := admin.ExecContext(ctx, s); err != nil {
			t.Fatalf("sqlscopetest: %q: %v", s, err)
		}
	}

	d.OwnerURL = roleURL(base, d.Name, d.OwnerRole, ownerPass)
	d.AppURL = roleURL(base, d.Name, d.AppRole, appPass)
	if d.Owner, err = open(ctx, d.OwnerURL); err != nil {
		t.Fatalf("sqlscopetest: connect as owner: %v", err)
	}
	// The public schema of a new database belongs to pg_database_owner, that
	// is the owner role; the application role may only use it.
	for _, s := range []string{
		`REVOKE ALL ON SCHEMA public FROM PUBLIC`,
		`GRANT USAGE ON SCHEMA public TO ` + d.AppRole,
		`ALTER DEFAULT PRIVILEGES FOR ROLE ` + d.OwnerRole + ` IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ` + d.AppRole,
		`ALTER DEFAULT PRIVILEGES FOR ROLE ` + d.OwnerRole + ` IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO ` + d.AppRole,
	} {
		if _, err := d.Owner.ExecContext(ctx, s); err != nil {
			t.Fatalf("sqlscopetest: %q: %v", s, err)
		}
	}
	if d.App, err = open(ctx, d.AppURL); err != nil {
		t.Fatalf("sqlscopetest: connect as application role: %v", err)
	}
	return d
}

// maxConns bounds each handle's pool, so that tests running in parallel
// against one server cannot exhaust its max_connections.
const maxConns = 8

func open(ctx context.Context, u string) (*sql.DB, error) {
	db, err := sql.Open("pgx", u)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func roleURL(base *url.URL, dbName, role, password string) string {
	u := *base
	u.User = url.UserPassword(role, password)
	u.Path = "/" + dbName
	return u.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
