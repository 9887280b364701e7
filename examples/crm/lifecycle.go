package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tenantwall/tenantwall/blobstore"
	"github.com/tenantwall/tenantwall/lifecycle"
	"github.com/tenantwall/tenantwall/sqlscope"
	"github.com/tenantwall/tenantwall/tenant"
)

// The tenant lifecycle commands: export, import, move and the two-step
// delete. They are added to the command table here so that commands.go
// keeps one table of its own.
func init() {
	commands = append(commands,
		command{name: "tenant export", flags: "-slug S -out FILE", help: "write a tenant's archive (rows, files, settings) to FILE",
			need: []string{"slug", "out"}, run: tenantExport},
		command{name: "tenant import", flags: "-in FILE [-unsigned]", help: "restore a tenant from an archive signed by an archive key (refused if it exists); -unsigned: one no key signs, which comes in suspended with its domains pending",
			need: []string{"in"}, bools: []string{"unsigned"}, run: tenantImport},
		command{name: "tenant delete", flags: "-slug S [-confirm]", help: "suspend and schedule a tenant's deletion; after the grace period (or with -confirm) delete it and print the receipt",
			need: []string{"slug"}, bools: []string{"confirm"}, run: tenantDelete},
		command{name: "tenant move", flags: "-slug S -to-data DIR [-to-db URL] [-to-db-admin URL] [-to-blob URL] [-to-redis URL]",
			help: "move a tenant to another instance: freeze, export, import, switch, delete the source",
			need: []string{"slug", "to-data"}, opt: []string{"to-db", "to-db-admin", "to-blob", "to-redis"}, run: tenantMove},
		command{name: "tenant verify", flags: "-id ID -slug S", help: "scan tables, Redis and files for anything left of a deleted tenant",
			need: []string{"id", "slug"}, run: tenantVerify},
	)
}

// deleteGrace is how long a tenant scheduled for deletion stays
// suspended before 'tenant delete' removes it without -confirm.
func deleteGrace() (time.Duration, error) {
	v := os.Getenv("CRM_DELETE_GRACE")
	if v == "" {
		return lifecycle.DefaultGracePeriod, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("CRM_DELETE_GRACE %q: want a duration such as 168h", v)
	}
	return d, nil
}

// sessionsOf adapts the session manager's DestroyTenant to
// lifecycle.Sessions.
type sessionsOf func(ctx context.Context, tenantID string) error

func (f sessionsOf) DeleteTenant(ctx context.Context, tenantID string) error { return f(ctx, tenantID) }

// rateKeyDeleter is the part of the rate limiter's store (both of
// ratelimit's stores) that tenant deletion uses.
type rateKeyDeleter interface {
	DeleteTenant(ctx context.Context, tenantID string) (int64, error)
}

// archiveKeys returns the keys that sign and verify tenant archives:
// CRM_ARCHIVE_KEYS, comma-separated base64 keys of at least
// lifecycle.MinArchiveKeySize bytes (the first signs, all verify: put a
// new key first to rotate), or else a key generated in
// <data>/archive-key on first start. Every instance that imports another's
// archives needs its signing key.
func archiveKeys(dataDir string) ([][]byte, error) {
	if env := os.Getenv("CRM_ARCHIVE_KEYS"); env != "" {
		var keys [][]byte
		for i, v := range strings.Split(env, ",") {
			k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
			if err != nil || len(k) < lifecycle.MinArchiveKeySize {
				return nil, fmt.Errorf("CRM_ARCHIVE_KEYS: key %d: want standard base64 of at least %d bytes", i+1, lifecycle.MinArchiveKeySize)
			}
			keys = append(keys, k)
		}
		return keys, nil
	}
	path := filepath.Join(dataDir, "archive-key")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		if err := createArchiveKey(dataDir, path); err != nil {
			return nil, err
		}
		b, err = os.ReadFile(path)
	}
	switch {
	case err != nil:
		return nil, err
	case len(b) < lifecycle.MinArchiveKeySize:
		return nil, fmt.Errorf("%s: %d bytes, want at least %d", path, len(b), lifecycle.MinArchiveKeySize)
	}
	return [][]byte{b}, nil
}

// createArchiveKey creates path with a new random key unless it exists.
// The key is written whole to a temporary file in the same directory and
// then hard-linked to path: a link never replaces an existing name, so of
// two servers starting at once on a fresh data directory the first link
// wins and the other keeps it (reading path afterwards) instead of
// overwriting it, and no reader ever sees a half-written key.
func createArchiveKey(dataDir, path string) error {
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return err
	}
	f, err := os.CreateTemp(dataDir, ".archive-key-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	b := make([]byte, 32)
	rand.Read(b)
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Link(tmp, path); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	return nil
}

// openLifecycle builds the server's lifecycle.Manager over every store
// the server keeps tenants' data in, and creates its table of scheduled
// deletions once, at start.
func (a *app) openLifecycle(ctx context.Context) error {
	grace, err := deleteGrace()
	if err != nil {
		return err
	}
	if a.archiveKeys, err = archiveKeys(a.cfg.dataDir); err != nil {
		return err
	}
	a.lifecycleOpts = []lifecycle.Option{
		lifecycle.WithBucket(a.bucket, blobstore.DefaultRoot),
		lifecycle.WithCache(a.keyspace),
		lifecycle.WithSessions(sessionsOf(a.sessions.DestroyTenant)),
		lifecycle.WithRemover("credentials", func(ctx context.Context, id string) (lifecycle.Removed, error) {
			del, err := a.vault.DeleteTenant(ctx, id)
			r := lifecycle.Removed{Count: del.Rows}
			if del.DataKey {
				r.Note = "data key destroyed: earlier copies of its ciphertext no longer open"
			}
			return r, err
		}),
		lifecycle.WithRemover("signing keys", func(_ context.Context, id string) (lifecycle.Removed, error) {
			return lifecycle.Removed{Count: int64(a.keys.RemoveTenant(id)), Note: "access and refresh tokens no longer validate"}, nil
		}),
		lifecycle.WithRemover("jobs", func(ctx context.Context, id string) (lifecycle.Removed, error) {
			n, err := a.deleteTenantJobs(ctx, id)
			return lifecycle.Removed{Count: n}, err
		}),
		lifecycle.WithRemover("rate limits", func(ctx context.Context, id string) (lifecycle.Removed, error) {
			if a.rateKeys == nil {
				return lifecycle.Removed{Count: -1, Note: "no rate limiter"}, nil
			}
			n, err := a.rateKeys.DeleteTenant(ctx, id)
			return lifecycle.Removed{Count: n}, err
		}),
		// After the blobs: an upload or delete after this would write the
		// keys again.
		lifecycle.WithRemover("storage use", func(ctx context.Context, id string) (lifecycle.Removed, error) {
			if a.fileUse == nil {
				return lifecycle.Removed{Count: -1, Note: "counted in each process's memory"}, nil
			}
			n, err := a.fileUse.DeleteTenant(ctx, id)
			return lifecycle.Removed{Count: n}, err
		}),
		lifecycle.WithGracePeriod(grace),
		lifecycle.WithAuditor(a.auditor),
		// An archive, signed or not, registers no domain that "domain
		// add" would refuse (the platform's host, the base domain).
		lifecycle.WithDomainPolicy(func(_ context.Context, host string) error { return a.customHost(host) }),
		lifecycle.WithOnChange(func(_ context.Context, t tenant.Tenant) {
			if a.resolver != nil {
				a.spread(a.resolver.InvalidateTenant(t.ID))
			}
		}),
	}
	if a.redis != nil {
		a.lifecycleOpts = append(a.lifecycleOpts, lifecycle.WithRedis(a.redis))
	}
	if a.lifecycle, err = a.newLifecycle(true); err != nil {
		return err
	}
	return a.lifecycle.Migrate(ctx)
}

// newLifecycle returns a lifecycle.Manager over the server's stores
// (lifecycleOpts), with extra options last. signed gives it the archive
// keys: its archives are signed, and it imports only signed ones, as
// they are. Without them it imports any archive, its tenant suspended
// and its domains pending.
func (a *app) newLifecycle(signed bool, extra ...lifecycle.Option) (*lifecycle.Manager, error) {
	d := lifecycle.SQLite
	if a.data.dialect == sqlscope.Postgres {
		d = lifecycle.Postgres
	}
	opts := slices.Clip(a.lifecycleOpts)
	if signed {
		opts = append(opts, lifecycle.WithArchiveKeys(a.archiveKeys...))
	}
	// The owner handle: imports move identity sequences, and the schedule
	// table is created by the owner. Under FORCE row level security the
	// owner is bound too, and every statement filters on tenant_id.
	return lifecycle.New(a.tenants, a.data.admin, d, append(opts, extra...)...)
}

// lifecycleManager returns the server's lifecycle.Manager (see
// openLifecycle). progress, if not nil, receives progress reports: the
// Manager takes it at construction, so a Manager of the same stores is
// made for that caller, as for one with extra options (which come last).
func (a *app) lifecycleManager(progress func(lifecycle.Progress), extra ...lifecycle.Option) (*lifecycle.Manager, error) {
	if progress == nil && len(extra) == 0 {
		return a.lifecycle, nil
	}
	if progress != nil {
		extra = append([]lifecycle.Option{lifecycle.WithProgress(progress)}, extra...)
	}
	return a.newLifecycle(true, extra...)
}

// platformCtx marks ctx for lifecycle work, with the reason audited.
func platformCtx(ctx context.Context, reason string) context.Context {
	pctx, _ := tenant.WithPlatformScope(ctx, reason)
	return pctx
}

// lifecycleProgress prints progress lines, at most one every 250 ms.
func lifecycleProgress(w io.Writer) func(lifecycle.Progress) {
	return func(p lifecycle.Progress) { fmt.Fprintln(w, "  "+p.String()) }
}

func tenantExport(ctx context.Context, a *app, in input) error {
	t, err := a.tenants.BySlug(ctx, in.str["slug"])
	if err != nil {
		return err
	}
	m, err := a.lifecycleManager(lifecycleProgress(in.out))
	if err != nil {
		return err
	}
	man, err := exportFile(platformCtx(ctx, "crm tenant export"), m, t.ID, in.str["out"])
	if err != nil {
		return err
	}
	fmt.Fprintf(in.out, "exported %s (%s): %d rows in %d tables, %d files (%d bytes) to %s\n",
		t.Slug, t.ID, man.Rows(), len(man.Tables), man.Objects, man.ObjectBytes, in.str["out"])
	return nil
}

// exportFile writes the archive to path through a temporary file in the
// same directory, renamed when complete, so that a failed export leaves
// no partial archive.
func exportFile(ctx context.Context, m *lifecycle.Manager, id, path string) (lifecycle.Manifest, error) {
	f, err := os.CreateTemp(filepath.Dir(path), ".export-*")
	if err != nil {
		return lifecycle.Manifest{}, err
	}
	defer os.Remove(f.Name())
	man, err := m.Export(ctx, id, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return man, err
	}
	return man, os.Rename(f.Name(), path)
}

func tenantImport(ctx context.Context, a *app, in input) error {
	// -unsigned: a Manager without archive keys, which takes nothing the
	// archive claims as proven.
	m, err := a.newLifecycle(!in.bool["unsigned"], lifecycle.WithProgress(lifecycleProgress(in.out)))
	if err != nil {
		return err
	}
	man, err := importFile(platformCtx(ctx, "crm tenant import"), m, in.str["in"])
	if errors.Is(err, lifecycle.ErrSignature) {
		return fmt.Errorf("%w (keys: CRM_ARCHIVE_KEYS, else <data>/archive-key; "+
			"-unsigned imports the archive without trusting it: suspended, its domains pending)", err)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(in.out, "imported %s (%s): %d rows, %d files\n", man.Slug, man.TenantID, man.Rows(), man.Objects)
	if in.bool["unsigned"] {
		fmt.Fprintf(in.out, "unsigned archive: %s is suspended and its custom domains pending; check it, then 'crm tenant activate -slug %s' and 'crm domain verify -host H' for each domain\n",
			man.Slug, man.Slug)
	}
	return nil
}

func importFile(ctx context.Context, m *lifecycle.Manager, path string) (lifecycle.Manifest, error) {
	f, err := os.Open(path)
	if err != nil {
		return lifecycle.Manifest{}, err
	}
	defer f.Close()
	return m.Import(ctx, f)
}

func tenantDelete(ctx context.Context, a *app, in input) error {
	t, err := a.tenants.BySlug(ctx, in.str["slug"])
	if err != nil {
		return err
	}
	m, err := a.lifecycleManager(lifecycleProgress(in.out))
	if err != nil {
		return err
	}
	pctx := platformCtx(ctx, "crm tenant delete")
	rec, err := m.Delete(pctx, t.ID, in.bool["confirm"])
	switch {
	case errors.Is(err, lifecycle.ErrNotSuspended) && !in.bool["confirm"], errors.Is(err, lifecycle.ErrGracePeriod):
		// Scheduling again keeps the first dates.
		p, err := m.Schedule(pctx, t.ID)
		if err != nil {
			return err
		}
		fmt.Fprintf(in.out, "tenant %s is suspended and scheduled for deletion after %s.\n"+
			"Run 'crm tenant delete -slug %s' again then, or with -confirm to delete it now; 'crm tenant activate -slug %s' cancels.\n",
			t.Slug, p.DeleteAfter.Format(time.RFC3339), t.Slug, t.Slug)
		return nil
	case errors.Is(err, lifecycle.ErrNotSuspended):
		return fmt.Errorf("%w: run 'crm tenant delete -slug %s' without -confirm first", err, t.Slug)
	case err != nil && !errors.Is(err, lifecycle.ErrSurvived):
		return err
	}
	enc := json.NewEncoder(in.out)
	enc.SetIndent("", "  ")
	if encErr := enc.Encode(rec); encErr != nil {
		return encErr
	}
	return err
}

func tenantVerify(ctx context.Context, a *app, in input) error {
	m, err := a.lifecycleManager(nil)
	if err != nil {
		return err
	}
	rep, err := m.Verify(platformCtx(ctx, "crm tenant verify"), in.str["id"], in.str["slug"])
	if err != nil {
		return err
	}
	fmt.Fprintf(in.out, "scanned %d tables (%d rows), %d Redis keys, %d objects\n", rep.Tables, rep.Rows, rep.RedisKeys, rep.Objects)
	for _, f := range rep.Findings {
		fmt.Fprintf(in.out, "FOUND %s %s: %s\n", f.Store, f.Where, f.Match)
	}
	return rep.Err()
}

// tenantMove moves a tenant to another instance, described by the -to-*
// flags as the server's own flags describe this one:
//
//  1. freeze: the tenant is suspended on the source, so no request writes;
//  2. export it to <source data>/exports;
//  3. import it on the target (refused if it exists there);
//  4. switch: activate it on the target; point its DNS (slug and custom
//     domains) at the target;
//  5. delete it from the source, with a receipt.
//
// A failure before step 4 leaves the source suspended and whole: run
// 'crm tenant activate' to go back.
func tenantMove(ctx context.Context, a *app, in input) error {
	return a.moveTenant(ctx, in, lifecycleProgress(in.out))
}

// moveTenant is tenant move, reporting the export, import and deletion's
// progress to progress.
func (a *app) moveTenant(ctx context.Context, in input, progress func(lifecycle.Progress)) error {
	t, err := a.tenants.BySlug(ctx, in.str["slug"])
	if err != nil {
		return err
	}
	pctx := platformCtx(ctx, "crm tenant move")
	args := []string{"-data", in.str["to-data"], "-demo=false", "-base-domain", a.cfg.baseDomain}
	for _, f := range []string{"db", "db-admin", "blob", "redis"} {
		if v := in.str["to-"+f]; v != "" {
			args = append(args, "-"+f, v)
		}
	}
	cfg, _, err := parseFlags("crm", args, io.Discard)
	if err != nil {
		return fmt.Errorf("target: %w", err)
	}
	if cfg.db == a.cfg.db {
		return fmt.Errorf("tenant move: the target is this instance's database")
	}
	target, err := newApp(ctx, cfg, a.log)
	if err != nil {
		return fmt.Errorf("target: %w", err)
	}
	defer target.close()
	src, err := a.lifecycleManager(progress)
	if err != nil {
		return err
	}
	// The target verifies the archive with the source's signing key too:
	// a target with a data directory of its own has a key of its own.
	dst, err := target.lifecycleManager(progress, lifecycle.WithArchiveKeys(append(slices.Clone(target.archiveKeys), a.archiveKeys[0])...))
	if err != nil {
		return err
	}

	fmt.Fprintf(in.out, "1/5 freeze: suspending %s on the source\n", t.Slug)
	if t, err = a.setStatus(ctx, t.Slug, tenant.StatusSuspended); err != nil {
		return err
	}
	dir := filepath.Join(a.cfg.dataDir, "exports")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	path := filepath.Join(dir, t.Slug+"-"+time.Now().UTC().Format("20060102T150405Z")+".tar")
	fmt.Fprintf(in.out, "2/5 export to %s\n", path)
	man, err := exportFile(pctx, src, t.ID, path)
	if err != nil {
		return err
	}
	fmt.Fprintf(in.out, "3/5 import on the target (%d rows, %d files)\n", man.Rows(), man.Objects)
	if _, err := importFile(pctx, dst, path); err != nil {
		return fmt.Errorf("import on the target (the source is suspended and whole): %w", err)
	}
	fmt.Fprintln(in.out, "4/5 switch: activating on the target")
	if _, err := target.setStatus(ctx, t.Slug, tenant.StatusActive); err != nil {
		return err
	}
	doms, _ := target.tenants.Domains(ctx, t.ID)
	fmt.Fprintf(in.out, "    point %s.%s", t.Slug, a.cfg.baseDomain)
	for _, d := range doms {
		fmt.Fprintf(in.out, " and %s", d.Host)
	}
	fmt.Fprintln(in.out, " at the target")
	fmt.Fprintln(in.out, "5/5 delete from the source")
	if _, err := src.Schedule(pctx, t.ID); err != nil {
		return err
	}
	rec, err := src.Delete(pctx, t.ID, true)
	if err != nil {
		return fmt.Errorf("delete from the source (the target serves the tenant): %w", err)
	}
	fmt.Fprintf(in.out, "moved %s: %d items removed from the source, verified: nothing left (%d tables, %d keys, %d objects scanned)\n",
		t.Slug, rec.Total(), rec.Verified.Tables, rec.Verified.RedisKeys, rec.Verified.Objects)
	return nil
}

// Operator API for the lifecycle. Export, import and delete run as jobs:
// the request answers 202 with the job, whose progress (rows and bytes
// done, rate, time left) and result GET /admin/api/operations/{id}/ reports.
// Archives live in <data>/exports, named by the server; import takes the
// name of one there, never a path.

type operation struct {
	ID       string              `json:"id"`
	Op       string              `json:"op"`
	Tenant   string              `json:"tenant"`
	Status   string              `json:"status"` // running, done, failed
	Progress *lifecycle.Progress `json:"progress,omitempty"`
	Rate     *jobRate            `json:"rate,omitempty"`
	Archive  string              `json:"archive,omitempty"`
	Result   any                 `json:"result,omitempty"`
	Error    string              `json:"error,omitempty"`
}

type jobRate struct {
	RowsPerSecond  float64 `json:"rows_per_second"`
	BytesPerSecond float64 `json:"bytes_per_second"`
	SecondsLeft    float64 `json:"seconds_left"`
}

type operations struct {
	mu   sync.Mutex
	byID map[string]*operation
}

var lifecycleJobs = &operations{byID: map[string]*operation{}}

// start runs fn as a job and returns its ID.
func (js *operations) start(log *slog.Logger, op, slug string, fn func(ctx context.Context, progress func(lifecycle.Progress)) (any, string, error)) operation {
	var b [8]byte
	rand.Read(b[:])
	j := &operation{ID: hex.EncodeToString(b[:]), Op: op, Tenant: slug, Status: "running"}
	js.mu.Lock()
	js.byID[j.ID] = j
	snapshot := *j
	js.mu.Unlock()
	progress := func(p lifecycle.Progress) {
		r, by := p.Rate()
		js.mu.Lock()
		j.Progress = &p
		j.Rate = &jobRate{RowsPerSecond: r, BytesPerSecond: by, SecondsLeft: p.Remaining().Seconds()}
		js.mu.Unlock()
	}
	go func() {
		// The job outlives the request that started it.
		res, archive, err := fn(context.Background(), progress)
		js.mu.Lock()
		defer js.mu.Unlock()
		j.Result, j.Archive = res, archive
		if err != nil {
			j.Status, j.Error = "failed", err.Error()
			log.Warn("lifecycle job failed", "op", op, "tenant", slug, "err", err)
			return
		}
		j.Status = "done"
	}()
	return snapshot
}

func (js *operations) get(id string) (operation, bool) {
	js.mu.Lock()
	defer js.mu.Unlock()
	j, ok := js.byID[id]
	if !ok {
		return operation{}, false
	}
	return *j, true
}

// archiveName is the name the export endpoint gives an archive:
// <slug>-<UTC time>-<8 hex>.tar. Nothing else is read from or served out
// of the exports directory.
var archiveName = regexp.MustCompile(`^([a-z0-9-]{1,63})-[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}\.tar$`)

// lifecycleRoutes adds the lifecycle endpoints to the operator API.
func (a *app) lifecycleRoutes(mux *http.ServeMux) {
	dir := filepath.Join(a.cfg.dataDir, "exports")
	mux.HandleFunc("POST /admin/api/tenants/{slug}/export/", func(w http.ResponseWriter, r *http.Request) {
		t, err := a.tenants.BySlug(r.Context(), r.PathValue("slug"))
		if err != nil {
			a.respond(w, r, 0, nil, notFoundIf(err))
			return
		}
		var b [4]byte
		rand.Read(b[:])
		name := t.Slug + "-" + time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:]) + ".tar"
		j := lifecycleJobs.start(a.log, "export", t.Slug, func(ctx context.Context, progress func(lifecycle.Progress)) (any, string, error) {
			m, err := a.lifecycleManager(progress)
			if err != nil {
				return nil, "", err
			}
			if err := os.MkdirAll(dir, 0o750); err != nil {
				return nil, "", err
			}
			man, err := exportFile(platformCtx(ctx, "operator API export"), m, t.ID, filepath.Join(dir, name))
			return map[string]any{"rows": man.Rows(), "tables": man.Tables, "objects": man.Objects, "object_bytes": man.ObjectBytes}, name, err
		})
		writeJSON(w, http.StatusAccepted, j)
	})
	mux.HandleFunc("GET /admin/api/exports/{name}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if !archiveName.MatchString(name) {
			writeError(w, http.StatusNotFound, "not found")
			return
		}
		w.Header().Set("Content-Type", "application/x-tar")
		w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
		http.ServeFile(w, r, filepath.Join(dir, name))
	})
	mux.HandleFunc("POST /admin/api/imports/", func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Archive string }
		if err := decodeStrict(w, r, &body); err != nil {
			a.respond(w, r, 0, nil, err)
			return
		}
		sm := archiveName.FindStringSubmatch(body.Archive)
		if sm == nil {
			a.respond(w, r, 0, nil, badRequest{`field "archive": the name of an archive in the exports directory`})
			return
		}
		j := lifecycleJobs.start(a.log, "import", sm[1], func(ctx context.Context, progress func(lifecycle.Progress)) (any, string, error) {
			m, err := a.lifecycleManager(progress)
			if err != nil {
				return nil, "", err
			}
			man, err := importFile(platformCtx(ctx, "operator API import"), m, filepath.Join(dir, body.Archive))
			return map[string]any{"tenant_id": man.TenantID, "slug": man.Slug, "rows": man.Rows(), "objects": man.Objects}, body.Archive, err
		})
		writeJSON(w, http.StatusAccepted, j)
	})
	mux.HandleFunc("POST /admin/api/tenants/{slug}/delete/", func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Confirm bool }
		if err := decodeStrict(w, r, &body); err != nil {
			a.respond(w, r, 0, nil, err)
			return
		}
		t, err := a.tenants.BySlug(r.Context(), r.PathValue("slug"))
		if err != nil {
			a.respond(w, r, 0, nil, notFoundIf(err))
			return
		}
		m, err := a.lifecycleManager(nil)
		if err != nil {
			a.respond(w, r, 0, nil, err)
			return
		}
		pctx := platformCtx(r.Context(), "operator API delete")
		if t.Active() {
			if body.Confirm {
				a.respond(w, r, 0, nil, badRequest{"the tenant is active: schedule its deletion first (confirm false)"})
				return
			}
			p, err := m.Schedule(pctx, t.ID)
			a.respond(w, r, http.StatusOK, map[string]any{"scheduled": p}, err)
			return
		}
		j := lifecycleJobs.start(a.log, "delete", t.Slug, func(ctx context.Context, progress func(lifecycle.Progress)) (any, string, error) {
			m, err := a.lifecycleManager(progress)
			if err != nil {
				return nil, "", err
			}
			rec, err := m.Delete(platformCtx(ctx, "operator API delete"), t.ID, body.Confirm)
			return rec, "", err
		})
		writeJSON(w, http.StatusAccepted, j)
	})
	mux.HandleFunc("GET /admin/api/deletions/", func(w http.ResponseWriter, r *http.Request) {
		m, err := a.lifecycleManager(nil)
		if err != nil {
			a.respond(w, r, 0, nil, err)
			return
		}
		ps, err := m.Scheduled(r.Context())
		if ps == nil {
			ps = []lifecycle.Pending{}
		}
		a.respond(w, r, http.StatusOK, map[string]any{"results": ps}, err)
	})
	mux.HandleFunc("GET /admin/api/operations/{id}/", func(w http.ResponseWriter, r *http.Request) {
		j, ok := lifecycleJobs.get(r.PathValue("id"))
		if !ok {
			writeError(w, http.StatusNotFound, "not found")
			return
		}
		writeJSON(w, http.StatusOK, j)
	})
}

// cancelDeletion takes an activated tenant off the deletion schedule, so
// that a later suspension does not inherit an old, passed date.
func (a *app) cancelDeletion(ctx context.Context, t tenant.Tenant) error {
	m, err := a.lifecycleManager(nil)
	if err != nil {
		return err
	}
	return m.Cancel(platformCtx(ctx, "tenant activated"), t.ID)
}
