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

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, rest, err := parseFlags("crm", args, stderr)
	if err != nil {
		return err
	}
	log := slog.New(tenant.NewLogHandler(slog.NewTextHandler(stderr, nil)))
	if len(rest) > 0 && rest[0] != "serve" {
		cfg.demo = false
		a, err := newApp(ctx, cfg, log)
		if err != nil {
			return err
		}
		defer a.close()
		return a.command(ctx, rest, stdout)
	}
	if cfg.operator == "" {
		cfg.operator = randomToken()
	}
	a, err := newApp(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.close()
	if err := a.startJobs(ctx); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	if ln, err = a.serveTLS(ln); err != nil { // -tls, -tls-ask-addr
		return err
	}
	printBanner(stdout, ln.Addr().String(), cfg)
	srv := newHTTPServer(cfg, a.routes(), log)
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := a.serveMetrics(ctx); err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("crm listening", "addr", ln.Addr().String(), "base_domain", cfg.baseDomain, "database", redactDSN(cfg.db))
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

// newHTTPServer is the server's net/http configuration. ReadTimeout bounds
// reading a whole request, body included, so a client that trickles its
// body is cut off (the handler sees errSlowBody and answers 408) instead
// of holding a connection and a goroutine; it applies to uploads too, so
// raise -read-timeout for large files over slow links. WriteTimeout is
// not set: the WebSocket streams for as long as it is open, and every
// other request has a deadline of its own (-request-timeout).
func newHTTPServer(cfg config, h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: cfg.readHeaderTimeout,
		ReadTimeout:       cfg.readTimeout,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

func printBanner(w io.Writer, addr string, cfg config) {
	_, port, _ := net.SplitHostPort(addr)
	fmt.Fprintf(w, `tenantwall CRM on http://%[3]s
  acme    http://acme.%[1]s:%[2]s/api/tenant-branding/   (custom domain crm.acme.test)
  globex  http://globex.%[1]s:%[2]s/api/tenant-branding/
  users   admin@acme.test / %[4]s, admin@globex.test / %[4]s
  web     open http://acme.%[1]s:%[2]s/ or http://globex.%[1]s:%[2]s/ in a browser
  try     curl -H 'Host: crm.acme.test' http://%[3]s/api/tenant-branding/
  operator API on http://%[5]s:%[2]s/admin/api/ with 'Authorization: Bearer %[6]s'
`, cfg.baseDomain, port, addr, demoPassword, cfg.platformHost, cfg.operator)
}
