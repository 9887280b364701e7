package jobs

import (
	"context"

	"github.com/riverqueue/river"

	"github.com/tenantwall/tenantwall/tenant"
)

// ListParams returns River list parameters that select the jobs of the
// context's tenant only, for Client.JobList; refine them with the usual
// methods (States, Kinds, First, …). The condition uses the ->> operator,
// which both PostgreSQL and SQLite (3.38 or later) understand. Without a
// tenant in ctx it returns tenant.ErrNoTenant.
func ListParams(ctx context.Context) (*river.JobListParams, error) {
	id, err := tenant.IDFromContext(ctx)
	if err != nil {
		return nil, err
	}
	return river.NewJobListParams().Where("metadata->>'"+MetadataKey+"' = @tenantwall_tenant", river.NamedArgs{"tenantwall_tenant": id}), nil
}

// DeleteParams returns River parameters that select every job of the
// tenant with ID tenantID, for Client.JobDeleteMany when that tenant is
// deleted for good (package lifecycle's WithRemover). It takes the ID
// rather than a context because a deleted tenant has no context to run
// in. River never deletes a running job and deletes at most First jobs
// per call (1,000 here): call JobDeleteMany until it deletes none. An ID
// that tenant.ValidateID refuses returns its error.
func DeleteParams(tenantID string) (*river.JobDeleteManyParams, error) {
	if err := tenant.ValidateID(tenantID); err != nil {
		return nil, err
	}
	return river.NewJobDeleteManyParams().Where("metadata->>'"+MetadataKey+"' = @tenantwall_tenant", river.NamedArgs{"tenantwall_tenant": tenantID}).First(1000), nil
}
