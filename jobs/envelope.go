package jobs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/tenantwall/tenantwall/tenant"
)

// MetadataKey is the key of River's job metadata under which the envelope
// stores the tenant ID. Job metadata is written only by the inserting
// code's InsertOpts and the envelope, never from job args, so nothing a
// tenant puts into args can name a tenant. The envelope refuses an insert
// whose metadata already has this key (ErrMetadataTenant).
const MetadataKey = "tenantwall_tenant"

// Envelope is River middleware that carries the tenant from the code that
// inserts a job to the code that works it. Install it as the only
// middleware that decides tenants, in river.Config.Middleware of every
// client that inserts or works tenant jobs:
//
//	env, err := jobs.New(store)
//	client, err := river.NewClient(driver, &river.Config{
//		Middleware: []rivertype.Middleware{env}, …})
//
// Insert side: each job gets the ID of the context's tenant in its
// metadata (MetadataKey), and a unique key (River's UniqueOpts) is scoped
// to that tenant, so "unique" means unique per tenant. Without a tenant
// the insert fails with tenant.ErrNoTenant and nothing is inserted;
// InsertTx then leaves the caller's transaction to roll back, so a job
// exists only if the tenant's data it was inserted with does.
//
// Work side: the tenant named by the job is looked up again in the store
// before the job runs. A job naming no valid tenant, or a tenant that no
// longer exists, is cancelled (River never runs it again) without running;
// a suspended tenant's job is snoozed or cancelled (WithSuspendedSnooze);
// a lookup failure is returned as the attempt's error, so River retries.
// Otherwise the job runs with the tenant in its context
// (tenant.NewContext), so every tenantwall package scopes its work to it:
// sqlscope and pgxscope transactions run under the tenant's row level
// security, the row filter binds it, cache keys and blob prefixes are the
// tenant's. Each job gets its context from River afresh: nothing of one
// job's tenant stays for the next on the same worker.
//
// An Envelope is safe for concurrent use.
type Envelope struct {
	river.MiddlewareDefaults

	store    tenant.Lookup
	auditor  tenant.Auditor
	snooze   time.Duration
	platform map[string]bool
}

var (
	_ rivertype.JobInsertMiddleware = (*Envelope)(nil)
	_ rivertype.WorkerMiddleware    = (*Envelope)(nil)
)

// New returns an Envelope that checks job tenants in store.
func New(store tenant.Lookup, opts ...Option) (*Envelope, error) {
	if store == nil {
		return nil, fmt.Errorf("%w: nil tenant store", ErrInvalidOption)
	}
	o := options{platform: map[string]bool{}}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if !o.snoozeSet {
		o.snooze = DefaultSuspendedSnooze
	}
	return &Envelope{store: store, auditor: tenant.OrDefault(o.auditor), snooze: o.snooze, platform: o.platform}, nil
}

// InsertMany implements rivertype.JobInsertMiddleware. It is River's
// insert path for Insert, InsertTx, InsertMany and InsertManyTx alike.
func (e *Envelope) InsertMany(ctx context.Context, many []*rivertype.JobInsertParams, doInner func(context.Context) ([]*rivertype.JobInsertResult, error)) ([]*rivertype.JobInsertResult, error) {
	id, noTenant := tenant.IDFromContext(ctx)
	for _, p := range many {
		if e.platform[p.Kind] {
			if noTenant == nil {
				return nil, fmt.Errorf("jobs: insert %s: %w", p.Kind, ErrPlatformJob)
			}
			if !namesNoTenant(p.Metadata) {
				return nil, fmt.Errorf("jobs: insert %s: metadata is not an object without %s: %w", p.Kind, MetadataKey, ErrMetadataTenant)
			}
			continue
		}
		if noTenant != nil {
			return nil, fmt.Errorf("jobs: insert %s: %w", p.Kind, noTenant)
		}
		md, err := withTenant(p.Metadata, id)
		if err != nil {
			return nil, fmt.Errorf("jobs: insert %s: %w", p.Kind, err)
		}
		p.Metadata = md
		if p.UniqueKey != nil {
			p.UniqueKey = tenantUniqueKey(id, p.UniqueKey)
		}
	}
	return doInner(ctx)
}

// Work implements rivertype.WorkerMiddleware.
func (e *Envelope) Work(ctx context.Context, job *rivertype.JobRow, doInner func(context.Context) error) error {
	// River gives each job a fresh context; a tenant in it can only come
	// from middleware placed before this one.
	if _, ok := tenant.FromContext(ctx); ok {
		return river.JobCancel(fmt.Errorf("jobs: job %d (%s) got a context that already carries a tenant: %w", job.ID, job.Kind, ErrNoJobTenant))
	}
	if e.platform[job.Kind] {
		if !namesNoTenant(job.Metadata) {
			return river.JobCancel(fmt.Errorf("jobs: job %d (%s): %w", job.ID, job.Kind, ErrPlatformJob))
		}
		pctx, _ := tenant.WithPlatformScope(ctx, "jobs: platform job "+job.Kind+" "+strconv.FormatInt(job.ID, 10))
		return doInner(pctx)
	}
	id, err := metadataTenant(job.Metadata)
	if err != nil {
		err = fmt.Errorf("jobs: job %d (%s): %w", job.ID, job.Kind, err)
		e.auditor.Audit(ctx, tenant.Event{Kind: tenant.EventLookupFailure, Resource: jobResource(job), Package: "jobs", Err: err})
		return river.JobCancel(err)
	}
	t, err := e.store.ByID(ctx, id)
	switch {
	case errors.Is(err, tenant.ErrNotFound):
		// The tenant was deleted after the job was inserted: its work has
		// nobody to run for.
		return river.JobCancel(fmt.Errorf("jobs: job %d (%s) of tenant %s: %w", job.ID, job.Kind, id, err))
	case err != nil:
		e.auditor.Audit(ctx, tenant.Event{Kind: tenant.EventLookupFailure, OwnerID: id, Resource: jobResource(job), Package: "jobs", Err: err})
		return fmt.Errorf("jobs: job %d (%s): tenant %s: %w", job.ID, job.Kind, id, err)
	case t.ID != id:
		// A store must answer ByID with that ID; anything else is not
		// understood, and so not run.
		return fmt.Errorf("jobs: job %d (%s): store answered tenant %s for %s", job.ID, job.Kind, t.ID, id)
	case !t.Active():
		e.auditor.Audit(ctx, tenant.Event{Kind: tenant.EventSuspended, TenantID: id, OwnerID: id, Resource: jobResource(job), Package: "jobs"})
		if e.snooze > 0 {
			return river.JobSnooze(e.snooze)
		}
		return river.JobCancel(fmt.Errorf("jobs: job %d (%s) of tenant %s: %w", job.ID, job.Kind, id, ErrSuspended))
	}
	// River builds the job's context from the one its client was started
	// with: a client started under tenant.WithPlatformScope must not hand
	// that scope to a tenant's job.
	return doInner(tenant.NewContext(tenant.WithoutPlatformScope(ctx), t))
}

func jobResource(job *rivertype.JobRow) string {
	return "job " + strconv.FormatInt(job.ID, 10) + " (" + job.Kind + ")"
}

// emptyMetadata is what River stores when InsertOpts has no metadata.
var emptyMetadata = []byte("{}")

// withTenant returns metadata md with MetadataKey set to id, refusing md
// that has the key already.
func withTenant(md []byte, id string) ([]byte, error) {
	if len(md) == 0 || bytes.Equal(md, emptyMetadata) {
		// The common case: one small allocation, no JSON round trip. id
		// passed tenant.ValidateID when it entered the context's tenant
		// (a store validates), and is re-checked here: it must be JSON
		// safe as written.
		if err := tenant.ValidateID(id); err != nil {
			return nil, err
		}
		b := make([]byte, 0, len(MetadataKey)+len(id)+7)
		b = append(b, `{"`...)
		b = append(b, MetadataKey...)
		b = append(b, `":"`...)
		b = append(b, id...)
		return append(b, `"}`...), nil
	}
	m, err := metadataObject(md)
	if err != nil {
		return nil, err
	}
	if _, ok := m[MetadataKey]; ok {
		return nil, ErrMetadataTenant
	}
	v, _ := json.Marshal(id)
	m[MetadataKey] = v
	return json.Marshal(m)
}

// metadataTenant returns the tenant ID a job's metadata names, or
// ErrNoJobTenant. The key is matched exactly (a map, not a struct, whose
// decoding would fold case).
func metadataTenant(md []byte) (string, error) {
	if id, ok := onlyTenant(md); ok {
		return id, nil
	}
	m, err := metadataObject(md)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrNoJobTenant, err)
	}
	raw, ok := m[MetadataKey]
	if !ok {
		return "", ErrNoJobTenant
	}
	var id string
	if err := json.Unmarshal(raw, &id); err != nil {
		return "", fmt.Errorf("%w: %s is not a string", ErrNoJobTenant, MetadataKey)
	}
	if err := tenant.ValidateID(id); err != nil {
		return "", fmt.Errorf("%w: %w", ErrNoJobTenant, err)
	}
	return id, nil
}

// tenantUniqueKey scopes River's unique key to one tenant: the same args
// of two tenants give two keys, of one tenant one.
func tenantUniqueKey(id string, key []byte) []byte {
	h := sha256.New()
	h.Write([]byte("tenantwall_tenant=" + id + "&river="))
	h.Write(key)
	return h.Sum(nil)
}

// metadataObject decodes job metadata, which must be a JSON object.
func metadataObject(md []byte) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(md, &m); err != nil || m == nil {
		// null decodes into a nil map without an error.
		return nil, errors.New("jobs: metadata is not a JSON object")
	}
	return m, nil
}

// namesNoTenant reports whether the metadata of a platform job is a JSON
// object without MetadataKey (empty metadata counts as {}): a platform
// job carries no tenant, valid or not.
func namesNoTenant(md []byte) bool {
	if len(md) == 0 {
		return true
	}
	m, err := metadataObject(md)
	if err != nil {
		return false
	}
	_, ok := m[MetadataKey]
	return !ok
}

// tenantPrefix starts the metadata the envelope writes when the caller
// gave none.
const tenantPrefix = `{"` + MetadataKey + `":`

// onlyTenant reads, without a JSON decoder, metadata that holds nothing
// but the tenant key, as the envelope writes it or as PostgreSQL's jsonb
// prints it back (one space after the colon). The ID must pass
// tenant.ValidateID, which admits only hex digits and hyphens: no escape,
// quote or other key can hide inside it. Anything else goes to the
// decoder.
func onlyTenant(md []byte) (string, bool) {
	rest, ok := bytes.CutPrefix(md, []byte(tenantPrefix))
	if !ok {
		return "", false
	}
	rest, _ = bytes.CutPrefix(rest, []byte(" "))
	if len(rest) != 1+36+2 || rest[0] != '"' || rest[37] != '"' || rest[38] != '}' {
		return "", false
	}
	id := string(rest[1:37])
	if tenant.ValidateID(id) != nil {
		return "", false
	}
	return id, true
}
