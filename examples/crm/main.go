// Command crm is tenantwall's reference multi-tenant CRM server. Run it with
//
//	go run ./examples/crm
//
// and reach the demo tenants at http://acme.localhost:8080 and
// http://globex.localhost:8080. See README.md beside this file.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/tenantwall/tenantwall/tenant"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "crm:", err)
		os.Exit(1)
	}
}

// config is the server's configuration, from flags with environment
// variables as defaults.
type config struct {
	addr       string
	baseDomain string
	demo       bool
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("crm", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	fs.StringVar(&c.addr, "addr", envOr("CRM_ADDR", "127.0.0.1:8080"), "listen address (env CRM_ADDR)")
	fs.StringVar(&c.baseDomain, "base-domain", envOr("CRM_BASE_DOMAIN", "localhost"), "tenants are served on <slug>.<base-domain> (env CRM_BASE_DOMAIN)")
	fs.BoolVar(&c.demo, "demo", envOr("CRM_DEMO", "true") == "true", "seed the demo tenants on an empty store (env CRM_DEMO)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	return c, nil
}

func envOr(key, def string) string {
	if v, ok := os.LookupEnv(key); ok {
		return v
	}
	return def
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	log := slog.New(tenant.NewLogHandler(slog.NewTextHandler(stderr, nil)))
	app, err := newApp(ctx, cfg, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	if cfg.demo {
		printBanner(stdout, ln.Addr().String(), cfg.baseDomain)
	}
	srv := &http.Server{
		Handler:           app.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		WriteTimeout:      5 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("crm listening", "addr", ln.Addr().String(), "base_domain", cfg.baseDomain)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("crm shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func printBanner(w io.Writer, addr, base string) {
	_, port, _ := net.SplitHostPort(addr)
	fmt.Fprintf(w, `tenantwall CRM — demo tenants
  acme    http://acme.%[1]s:%[2]s/api/tenant-branding/   (custom domain crm.acme.test)
  globex  http://globex.%[1]s:%[2]s/api/tenant-branding/
  try:    curl -H 'Host: crm.acme.test' http://%[3]s/api/tenant-branding/
`, base, port, addr)
}
