package jobs

import (
	"context"
	"fmt"

	"github.com/riverqueue/river"

	"github.com/tenantwall/tenantwall/tenant"
)

// tenantCondition selects the jobs whose metadata names the tenant bound
// to @tenantwall_tenant. The ->> operator is understood by both
// PostgreSQL and SQLite (3.38 or later).
const tenantCondition = "metadata->>'" + MetadataKey + "' = @tenantwall_tenant"

// List lists the jobs of ctx's tenant: it adds the tenant's condition to
// params (nil means River's defaults, river.NewJobListParams) and runs
// them through list, which is Client.JobList, or a function calling
// Client.JobListTx with the caller's transaction. Refine params with
// River's methods (States, Kinds, IDs, First, OrderBy, After, Where) before
// passing them; params itself is not changed. Without a tenant in ctx
// List returns tenant.ErrNoTenant and lists nothing.
//
// Every job River returns is checked before any reaches the caller: its
// metadata must name ctx's tenant, read as the Envelope reads it before
// running the job. River joins Where predicates with a bare AND, so a
// refinement such as Where("kind = 'a' OR kind = 'b'") escapes the
// tenant's condition (AND binds tighter than OR) and selects every
// tenant's jobs of one of the kinds. When a job of another tenant, or of
// none, comes back, List returns no jobs and ErrForeignJob, and reports
// the first such job to the Envelope's auditor as
// tenant.EventCrossTenant: a listing that lost its tenant's condition is
// refused whole rather than shortened, so that neither a page nor its
// cursor comes from another tenant. Put an OR of a refinement in
// parentheses: Where("(kind = 'a' OR kind = 'b')").
//
// The check holds for the rows List returns, not for what the query
// reads: the role River connects as reads every tenant's jobs, so a Where
// predicate can read other tenants' jobs too (a subquery on river_job,
// say), and which jobs List returns, or whether it answers ErrForeignJob,
// tells the predicate's author whether it matched. Never put tenant input
// in a Where refinement, not even as a named argument's value: let a
// tenant choose with River's typed refinements (States, Kinds, IDs,
// First, OrderBy, After).
//
// To act on a job by an ID that a tenant sent (JobCancel, JobRetry,
// JobDelete, JobGet take any tenant's ID), look it up first with
// List(ctx, client.JobList, river.NewJobListParams().IDs(id)): another
// tenant's job is not found.
func (e *Envelope) List(ctx context.Context, list func(context.Context, *river.JobListParams) (*river.JobListResult, error), params *river.JobListParams) (*river.JobListResult, error) {
	id, err := tenant.IDFromContext(ctx)
	if err != nil {
		return nil, err
	}
	if params == nil {
		params = river.NewJobListParams()
	}
	// Where returns a copy: River's JobList writes the client's schema
	// into the params it is given, and the caller's stay as they were.
	res, err := list(ctx, params.Where(tenantCondition, river.NamedArgs{"tenantwall_tenant": id}))
	if err != nil {
		return nil, err
	}
	if res == nil {
		return nil, fmt.Errorf("jobs: list for tenant %s: the list function returned no result and no error", id)
	}
	foreign := 0
	for _, job := range res.Jobs {
		owner, err := metadataTenant(job.Metadata)
		if err == nil && owner == id {
			continue
		}
		if foreign++; foreign == 1 {
			e.auditor.Audit(ctx, tenant.Event{Kind: tenant.EventCrossTenant, TenantID: id, OwnerID: owner,
				Resource: jobResource(job), Package: "jobs", Err: ErrForeignJob})
		}
	}
	if foreign > 0 {
		return nil, fmt.Errorf("jobs: list for tenant %s: %d of %d jobs listed belong to another tenant or none (a refinement's OR outside parentheses?): %w",
			id, foreign, len(res.Jobs), ErrForeignJob)
	}
	return res, nil
}

// DeleteParams returns River parameters that select every job of the
// tenant with ID tenantID, for Client.JobDeleteMany when that tenant is
// deleted for good (package lifecycle's WithRemover). It takes the ID
// rather than a context because a deleted tenant has no context to run
// in. River never deletes a running job and deletes at most First jobs
// per call (1,000 here): call JobDeleteMany until it deletes none. An ID
// that tenant.ValidateID refuses returns its error.
//
// Refinements narrow the selection and never widen it: unlike
// JobListParams.Where, River puts each JobDeleteManyParams.Where predicate
// in parentheses of its own, an OR in it included (River v0.51; tested).
func DeleteParams(tenantID string) (*river.JobDeleteManyParams, error) {
	if err := tenant.ValidateID(tenantID); err != nil {
		return nil, err
	}
	return river.NewJobDeleteManyParams().Where(tenantCondition, river.NamedArgs{"tenantwall_tenant": tenantID}).First(1000), nil
}
