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
