package main

import (
	"context"
	"crypto/rand"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/tenantwall/tenantwall/blobstore"
	"github.com/tenantwall/tenantwall/resolve"
	"github.com/tenantwall/tenantwall/sqlscope"
	"github.com/tenantwall/tenantwall/tenant"
)

// command runs an operator subcommand against the configured database.
func (a *app) command(ctx context.Context, args []string, out io.Writer) error {
	sub := func(name string, rest []string) (*flag.FlagSet, map[string]*string) {
		fs := flag.NewFlagSet(name, flag.ContinueOnError)
		fs.SetOutput(out)
		return fs, map[string]*string{}
	}
	str := func(fs *flag.FlagSet, m map[string]*string, names ...string) {
		for _, n := range names {
			m[n] = fs.String(n, "", n)
		}
	}
	need := func(m map[string]*string, names ...string) error {
		for _, n := range names {
			if *m[n] == "" {
				return fmt.Errorf("-%s is required", n)
			}
		}
		return nil
	}
	if len(args) == 0 {
		fmt.Fprintln(out, usage)
		return errUsage
	}
	switch args[0] + " " + first(args[1:]) {
	case "tenant create":
		fs, m := sub("tenant create", args[2:])
		str(fs, m, "slug", "name", "logo-url", "color")
		if err := fs.Parse(args[2:]); err != nil {
			return err
		}
		if err := need(m, "slug", "name"); err != nil {
			return err
		}
		t, err := a.createTenant(ctx, *m["slug"], *m["name"], tenant.Branding{LogoURL: *m["logo-url"], PrimaryColor: *m["color"]})
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "created tenant %s (%s)\n", t.Slug, t.ID)
		return nil
	case "tenant list":
		ts, err := a.tenants.List(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SLUG\tID\tSTATUS\tNAME")
		for _, t := range ts {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.Slug, t.ID, t.Status, t.Name)
		}
		return tw.Flush()
	case "tenant suspend", "tenant activate":
		fs, m := sub(args[0], args[2:])
		str(fs, m, "slug")
		if err := fs.Parse(args[2:]); err != nil {
			return err
		}
		if err := need(m, "slug"); err != nil {
			return err
		}
		st := tenant.StatusSuspended
		if args[1] == "activate" {
			st = tenant.StatusActive
		}
		t, err := a.setStatus(ctx, *m["slug"], st)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "tenant %s is %s\n", t.Slug, t.Status)
		return nil
	case "domain add":
		fs, m := sub("domain add", args[2:])
		str(fs, m, "tenant", "host")
		if err := fs.Parse(args[2:]); err != nil {
			return err
		}
		if err := need(m, "tenant", "host"); err != nil {
			return err
		}
		d, err := a.putDomain(ctx, *m["tenant"], *m["host"], tenant.DomainPending)
		if err != nil {
			return err
		}
		v, err := a.verifier()
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "added %s (pending). Publish this DNS record, then run 'crm domain verify -host %s':\n  %s TXT %q\n",
			d.Host, d.Host, v.RecordName(d.Host), v.Token(d.TenantID, d.Host))
		return nil
	case "domain verify":
		fs, m := sub("domain verify", args[2:])
		str(fs, m, "host")
		if err := fs.Parse(args[2:]); err != nil {
			return err
		}
		if err := need(m, "host"); err != nil {
			return err
		}
		host, err := resolve.Normalize(*m["host"])
		if err != nil {
			return err
		}
		t, d, err := a.tenants.ByDomain(ctx, host)
		if err != nil {
			return err
		}
		v, err := a.verifier()
		if err != nil {
			return err
		}
		if err := v.Verify(ctx, d); err != nil {
			return err
		}
		if _, err := a.putDomain(ctx, t.Slug, host, tenant.DomainActive); err != nil {
			return err
		}
		fmt.Fprintf(out, "%s verified and active for tenant %s\n", host, t.Slug)
		return nil
	case "domain list":
		fs, m := sub("domain list", args[2:])
		str(fs, m, "tenant")
		if err := fs.Parse(args[2:]); err != nil {
			return err
		}
		if err := need(m, "tenant"); err != nil {
			return err
		}
		t, err := a.tenants.BySlug(ctx, *m["tenant"])
		if err != nil {
			return err
		}
		ds, err := a.tenants.Domains(ctx, t.ID)
		if err != nil {
			return err
		}
		for _, d := range ds {
			fmt.Fprintf(out, "%s\t%s\n", d.Host, d.Status)
		}
		return nil
	}
	switch args[0] {
	case "resolve":
		fs := flag.NewFlagSet("resolve", flag.ContinueOnError)
		fs.SetOutput(out)
		host := fs.String("host", "", "host to resolve")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *host == "" {
			return errors.New("-host is required")
		}
		fmt.Fprintln(out, a.resolver.Explain(ctx, *host))
		return nil
	case "audit":
		if a.data.dialect != sqlscope.Postgres {
			return errors.New("audit inspects PostgreSQL row level security; the SQLite database uses the row filter")
		}
		fs, err := sqlscope.Audit(ctx, a.data.db, nil)
		if err != nil {
			return err
		}
		if len(fs) == 0 {
			fmt.Fprintln(out, "isolation audit: clean")
			return nil
		}
		return fs.Err()
	case "migrate-files":
		fs := flag.NewFlagSet("migrate-files", flag.ContinueOnError)
		fs.SetOutput(out)
		mapFile := fs.String("map", "", "CSV of old_key,tenant_slug,kind")
		dry := fs.Bool("dry-run", false, "report only")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *mapFile == "" {
			return errors.New("-map is required")
		}
		return a.migrateFiles(ctx, *mapFile, *dry, out)
	}
	fmt.Fprintln(out, usage)
	return fmt.Errorf("%w: %q", errUsage, args[0])
}

var errUsage = errors.New("unknown command")

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

func (a *app) migrateFiles(ctx context.Context, mapFile string, dry bool, out io.Writer) error {
	f, err := os.Open(mapFile)
	if err != nil {
		return err
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return fmt.Errorf("%s: %w", mapFile, err)
	}
	var moves []blobstore.Move
	for i, row := range rows {
		if len(row) != 3 {
			return fmt.Errorf("%s line %d: want old_key,tenant_slug,kind", mapFile, i+1)
		}
		t, err := a.tenants.BySlug(ctx, strings.TrimSpace(row[1]))
		if err != nil {
			return fmt.Errorf("%s line %d: %w", mapFile, i+1, err)
		}
		moves = append(moves, blobstore.Move{OldKey: strings.TrimSpace(row[0]), TenantID: t.ID, Kind: strings.TrimSpace(row[2])})
	}
	pctx, err := tenant.WithPlatformScope(ctx, "migrate-files "+filepath.Base(mapFile))
	if err != nil {
		return err
	}
	rep, err := a.files.Migrate(pctx, moves, &blobstore.MigrateOptions{DryRun: dry})
	if err != nil {
		return err
	}
	verb := "moved"
	if dry {
		verb = "would move"
	}
	for _, m := range rep.Moved {
		fmt.Fprintf(out, "%s %s -> %s (%d bytes)\n", verb, m.OldKey, m.NewKey, m.Size)
	}
	for _, m := range rep.Already {
		fmt.Fprintf(out, "already moved %s -> %s\n", m.OldKey, m.NewKey)
	}
	for _, fl := range rep.Failed {
		fmt.Fprintf(out, "FAILED %s: %v\n", fl.OldKey, fl.Err)
	}
	if len(rep.Failed) > 0 {
		return fmt.Errorf("%d file(s) not moved", len(rep.Failed))
	}
	return nil
}

// verifier builds the domain verifier with a secret kept in the data
// directory (or CRM_DOMAIN_SECRET).
func (a *app) verifier() (*resolve.Verifier, error) {
	secret := []byte(os.Getenv("CRM_DOMAIN_SECRET"))
	if len(secret) == 0 {
		path := filepath.Join(a.cfg.dataDir, "domain-secret")
		b, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			b = make([]byte, 32)
			rand.Read(b)
			if err := os.MkdirAll(a.cfg.dataDir, 0o750); err != nil {
				return nil, err
			}
			if err := os.WriteFile(path, b, 0o600); err != nil {
				return nil, err
			}
		} else if err != nil {
			return nil, err
		}
		secret = b
	}
	return resolve.NewVerifier(net.DefaultResolver, secret, "")
}
