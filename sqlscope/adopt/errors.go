package adopt

import "errors"

// Sentinel errors; test with errors.Is. Each is wrapped with the table,
// column or constraint concerned.
var (
	// ErrUnsupported reports a schema the planner does not positively
	// understand: a table without a single-column integer primary key, a
	// partitioned or inherited table, a table that already has tenant_id,
	// a unique index that backs no constraint, an exclusion constraint, a
	// foreign key into an adopted table from a table not adopted, or a
	// foreign key action that would clear tenant_id. It is refused, never
	// half-adopted.
	ErrUnsupported = errors.New("adopt: schema not supported")

	// ErrAssignment reports a missing, repeated or invalid tenant
	// assignment: a table without one, an assignment for a table not in
	// the schema, a tenant ID that is not canonical, an expression that
	// does not lex as one expression (see Expression), a join path
	// without a matching foreign key, or a cycle of join paths.
	ErrAssignment = errors.New("adopt: invalid tenant assignment")

	// ErrUnassigned reports rows the backfill could not give a tenant:
	// the expression returned NULL or an empty string, or the join path
	// found no parent row (a NULL foreign key). The error names the table
	// and the count; the run stops before making tenant_id NOT NULL, and
	// can be resumed once those rows are fixed or deleted.
	ErrUnassigned = errors.New("adopt: rows without a tenant after the backfill")

	// ErrPlanChanged reports a run whose plan differs from the one an
	// earlier, unfinished run of the same schema recorded. Resuming it
	// with other statements could end in a state neither plan describes.
	ErrPlanChanged = errors.New("adopt: the plan differs from the one an earlier run started")

	// ErrBusy reports another run adopting the same database at once.
	ErrBusy = errors.New("adopt: another run holds the adoption lock")

	// ErrVerify reports a verification that failed; the Report says which
	// table and why.
	ErrVerify = errors.New("adopt: verification failed")
)
