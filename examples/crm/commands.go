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

// command is one operator subcommand of the crm binary.
type command struct {
	name  string   // one or two words: "audit", "tenant create"
	flags string   // its flags, for the usage text
	help  string   // one line, for the usage text
	need  []string // required string flags
	opt   []string // optional string flags
	bools []string // boolean flags
	run   func(ctx context.Context, a *app, in input) error
}

// input is what a command receives: its parsed flags and where to write.
type input struct {
	str  map[string]string
	bool map[string]bool
	out  io.Writer
}

// commands is the command line, in the order the usage text lists it.
var commands = []command{
	{name: "tenant create", flags: "-slug S -name N [-logo-url U] [-color C]", help: "create a tenant",
		need: []string{"slug", "name"}, opt: []string{"logo-url", "color"}, run: tenantCreate},
	{name: "tenant list", help: "list tenants", run: tenantList},
	{name: "tenant suspend", flags: "-slug S", help: "suspend a tenant",
		need: []string{"slug"}, run: tenantStatus(tenant.StatusSuspended)},
	{name: "tenant activate", flags: "-slug S", help: "activate a suspended tenant",
		need: []string{"slug"}, run: tenantStatus(tenant.StatusActive)},
	{name: "domain add", flags: "-tenant S -host H", help: "add a custom domain (pending)",
		need: []string{"tenant", "host"}, run: domainAdd},
	{name: "domain verify", flags: "-host H", help: "check the domain's DNS and activate it",
		need: []string{"host"}, run: domainVerify},
	{name: "domain list", flags: "-tenant S", help: "list a tenant's domains",
		need: []string{"tenant"}, run: domainList},
	{name: "resolve", flags: "-host H", help: "explain how a host resolves, and why",
		need: []string{"host"}, run: resolveHost},
	{name: "audit", help: "run the database isolation audit (PostgreSQL)", run: audit},
	{name: "migrate-files", flags: "-map FILE [-dry-run]", help: "move shared-layout files into tenant prefixes",
		need: []string{"map"}, bools: []string{"dry-run"}, run: migrateFilesCommand},
	migrateDBCommand, // migratedb.go
}

var errUsage = errors.New("unknown command")

// usage is the command line's help text, built from the table.
func usage() string {
	var b strings.Builder
	b.WriteString("usage: crm [flags] [command]\n\ncommands:\n")
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  serve\trun the server (default)\n")
	for _, c := range commands {
		fmt.Fprintf(tw, "  %s\t%s\n", strings.TrimSpace(c.name+" "+c.flags), c.help)
	}
	_ = tw.Flush()
	b.WriteString("\nflags (before the command) are shown with -h.")
	return b.String()
}

// command runs the operator subcommand args names against the configured
// database. A name it does not know, a flag it does not declare, a stray
// argument or a missing required flag is an error.
func (a *app) command(ctx context.Context, args []string, out io.Writer) error {
	c, rest, ok := lookup(args)
	if !ok {
		fmt.Fprintln(out, usage())
		if len(args) == 0 {
			return errUsage
		}
		return fmt.Errorf("%w: %q", errUsage, strings.Join(args[:min(len(args), 2)], " "))
	}
	in, err := c.parse(rest, out)
	if err != nil {
		return err
	}
	return c.run(ctx, a, in)
}

// lookup finds the command args start with: two words before one, so
// that "tenant list" is never taken for a one-word command.
func lookup(args []string) (command, []string, bool) {
	for _, n := range []int{2, 1} {
		if len(args) < n {
			continue
		}
		name := strings.Join(args[:n], " ")
		for _, c := range commands {
			if c.name == name {
				return c, args[n:], true
			}
		}
	}
	return command{}, nil, false
}

func (c command) parse(args []string, out io.Writer) (input, error) {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(out)
	strs := map[string]*string{}
	for _, n := range append(append([]string(nil), c.need...), c.opt...) {
		strs[n] = fs.String(n, "", n)
	}
	bools := map[string]*bool{}
	for _, n := range c.bools {
		bools[n] = fs.Bool(n, false, n)
	}
	if err := fs.Parse(args); err != nil {
		return input{}, err
	}
	if fs.NArg() > 0 {
		return input{}, fmt.Errorf("%s: unexpected argument %q", c.name, fs.Arg(0))
	}
	in := input{str: map[string]string{}, bool: map[string]bool{}, out: out}
	for n, v := range strs {
		in.str[n] = *v
	}
	for n, v := range bools {
		in.bool[n] = *v
	}
	for _, n := range c.need {
		if in.str[n] == "" {
			return input{}, fmt.Errorf("%s: -%s is required", c.name, n)
		}
	}
	return in, nil
}

func tenantCreate(ctx context.Context, a *app, in input) error {
	t, err := a.createTenant(ctx, in.str["slug"], in.str["name"],
		tenant.Branding{LogoURL: in.str["logo-url"], PrimaryColor: in.str["color"]})
	if err != nil {
		return err
	}
	fmt.Fprintf(in.out, "created tenant %s (%s)\n", t.Slug, t.ID)
	return nil
}

func tenantList(ctx context.Context, a *app, in input) error {
	ts, err := a.tenants.List(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(in.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SLUG\tID\tSTATUS\tNAME")
	for _, t := range ts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.Slug, t.ID, t.Status, t.Name)
	}
	return tw.Flush()
}

func tenantStatus(st tenant.Status) func(context.Context, *app, input) error {
	return func(ctx context.Context, a *app, in input) error {
		t, err := a.setStatus(ctx, in.str["slug"], st)
		if err != nil {
			return err
		}
		fmt.Fprintf(in.out, "tenant %s is %s\n", t.Slug, t.Status)
		return nil
	}
}

func domainAdd(ctx context.Context, a *app, in input) error {
	d, err := a.putDomain(ctx, in.str["tenant"], in.str["host"], tenant.DomainPending)
	if err != nil {
		return err
	}
	v, err := a.verifier()
	if err != nil {
		return err
	}
	fmt.Fprintf(in.out, "added %s (pending). Publish this DNS record, then run 'crm domain verify -host %s':\n  %s TXT %q\n",
		d.Host, d.Host, v.RecordName(d.Host), v.Token(d.TenantID, d.Host))
	return nil
}

func domainVerify(ctx context.Context, a *app, in input) error {
	host, err := resolve.Normalize(in.str["host"])
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
	fmt.Fprintf(in.out, "%s verified and active for tenant %s\n", host, t.Slug)
	return nil
}

func domainList(ctx context.Context, a *app, in input) error {
	t, err := a.tenants.BySlug(ctx, in.str["tenant"])
	if err != nil {
		return err
	}
	ds, err := a.tenants.Domains(ctx, t.ID)
	if err != nil {
		return err
	}
	for _, d := range ds {
		fmt.Fprintf(in.out, "%s\t%s\n", d.Host, d.Status)
	}
	return nil
}

func resolveHost(ctx context.Context, a *app, in input) error {
	fmt.Fprintln(in.out, a.resolver.Explain(ctx, in.str["host"]))
	return nil
}

func audit(ctx context.Context, a *app, in input) error {
	if a.data.dialect != sqlscope.Postgres {
		return errors.New("audit inspects PostgreSQL row level security; the SQLite database uses the row filter")
	}
	fs, err := sqlscope.Audit(ctx, a.data.db, nil)
	if err != nil {
		return err
	}
	if len(fs) == 0 {
		fmt.Fprintln(in.out, "isolation audit: clean")
		return nil
	}
	return fs.Err()
}

func migrateFilesCommand(ctx context.Context, a *app, in input) error {
	return a.migrateFiles(ctx, in.str["map"], in.bool["dry-run"], in.out)
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
