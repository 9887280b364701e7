// Command notes is a small notes service written the way many existing Go
// services are: net/http, database/sql on PostgreSQL through pgx's stdlib
// driver, and a Redis cache. See README.md.
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/redis/go-redis/v9"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "notes:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("notes", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8081", "listen address")
	dbURL := fs.String("db", envOr("NOTES_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"), "PostgreSQL URL")
	redisURL := fs.String("redis", envOr("NOTES_REDIS_URL", "redis://127.0.0.1:6379/0"), "Redis URL")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	db, err := sql.Open("pgx", *dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	opt, err := redis.ParseURL(*redisURL)
	if err != nil {
		return err
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()

	if err := migrate(ctx, db); err != nil {
		return err
	}
	srv := &http.Server{Addr: *addr, Handler: newServer(db, rdb).routes(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	slog.Info("notes listening", "addr", *addr)
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		return err
	}
	return nil
}

func migrate(ctx context.Context, db *sql.DB) error {
	_, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS notes (
		id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
		title text NOT NULL,
		body text NOT NULL DEFAULT '',
		created_at timestamptz NOT NULL DEFAULT now())`)
	return err
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
