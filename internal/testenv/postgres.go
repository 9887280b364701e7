package testenv

import (
	"context"
	"database/sql"
	"net/url"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
)

// PostgresDB creates a database with a random name on the test server and
// returns its URL (as the server's admin user) and an open handle. The
// database is dropped when the test ends. Without a reachable server the
// test is skipped, or failed when services are required.
func PostgresDB(t testing.TB) (string, *sql.DB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	admin, err := sql.Open("pgx", PostgresURL())
	if err == nil {
		err = admin.PingContext(ctx)
	}
	if err != nil {
		if admin != nil {
			admin.Close()
		}
		Unavailable(t, "PostgreSQL at "+redact(PostgresURL()), err)
	}
	name := Name("tw")
	if _, err := admin.ExecContext(ctx, `CREATE DATABASE `+name); err != nil {
		admin.Close()
		t.Fatalf("create database %s: %v", name, err)
	}
	u := withDatabase(PostgresURL(), name)
	db, err := sql.Open("pgx", u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
		admin.Close()
	})
	return u, db
}

// PostgresRole creates a login role with a random name that is neither
// superuser nor BYPASSRLS nor able to create databases or roles, and
// returns its name and a URL for it on the database at dbURL. db is the
// admin handle PostgresDB returned for that database: when the test ends
// the role's objects there are dropped (DROP OWNED) and then the role,
// before PostgresDB's own cleanup drops the database.
func PostgresRole(t testing.TB, db *sql.DB, dbURL string) (string, string) {
	t.Helper()
	ctx := context.Background()
	name := Name("twrole")
	if _, err := db.ExecContext(ctx, `CREATE ROLE `+name+` LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE`); err != nil {
		t.Fatalf("create role: %v", err)
	}
	t.Cleanup(func() {
		_, _ = db.ExecContext(context.Background(), `DROP OWNED BY `+name+` CASCADE`)
		if _, err := db.ExecContext(context.Background(), `DROP ROLE IF EXISTS `+name); err != nil {
			t.Errorf("drop role %s: %v", name, err)
		}
	})
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(name)
	return name, u.String()
}

func withDatabase(raw, name string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.Path = "/" + name
	return u.String()
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
