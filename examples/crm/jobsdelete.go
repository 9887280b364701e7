package main

import (
	"context"
	"fmt"

	"github.com/tenantwall/tenantwall/jobs"
	"github.com/tenantwall/tenantwall/lifecycle"
	"github.com/tenantwall/tenantwall/sqlscope"
)

// deleteTenantJobs is the lifecycle remover of a tenant's River jobs:
// every row of river_job whose metadata names the tenant (jobs.MetadataKey),
// in any state. Left behind, they would keep the deleted tenant's ID (and
// whatever its jobs' args and errors hold) until River's retention ends,
// and Verify reports them.
func (a *app) deleteTenantJobs(ctx context.Context, id string) (lifecycle.Removed, error) {
	if a.jobs == nil {
		return lifecycle.Removed{Count: -1, Note: "no job queue"}, nil
	}
	q := `DELETE FROM river_job WHERE json_extract(metadata, '$.` + jobs.MetadataKey + `') = ?`
	if a.data.dialect == sqlscope.Postgres {
		q = `DELETE FROM river_job WHERE metadata ->> '` + jobs.MetadataKey + `' = ?`
	}
	res, err := a.data.admin.ExecContext(ctx, a.data.q(q), id)
	if err != nil {
		return lifecycle.Removed{}, fmt.Errorf("delete jobs: %w", err)
	}
	n, err := res.RowsAffected()
	return lifecycle.Removed{Count: n}, err
}
