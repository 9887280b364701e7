package placement

import "errors"

// Sentinel errors; test with errors.Is. A missing tenant is
// tenant.ErrNoTenant, returned before any database is chosen.
var (
	// ErrNotPlaced reports a tenant the Directory holds no placement for.
	ErrNotPlaced = errors.New("placement: tenant has no placement")

	// ErrUnknownPlacement reports a placement name the Router has no
	// database for. The Router never falls back to another database.
	ErrUnknownPlacement = errors.New("placement: unknown placement")

	// ErrMoving reports a tenant whose rows are being moved between
	// placements: its transactions are refused until the move ends, then
	// run on the new placement. Retry later (a server answers 503).
	ErrMoving = errors.New("placement: tenant is being moved")

	// ErrTenantMismatch reports a Handle used with a context that carries
	// another tenant than the one it was made for.
	ErrTenantMismatch = errors.New("placement: handle used for another tenant")

	// ErrSchemaMismatch reports a move between placements that differ in
	// their tenant tables (sqlscope.TenantTables): a table on one side
	// only, or different columns or foreign keys; nothing was copied.
	// It also reports a placement whose tenant tables changed while the
	// move ran (a migration); nothing was switched, and the copy was
	// deleted. The error names each difference. Migrate both alike, then
	// move.
	ErrSchemaMismatch = errors.New("placement: the placements' tenant tables differ")

	// ErrCopyMismatch reports a move whose copy differs from its source,
	// or whose source rows changed while it ran (the rows it deleted from
	// the source are not those it copied); nothing was switched or
	// removed.
	ErrCopyMismatch = errors.New("placement: copied rows differ from the source")

	// ErrNotMovable reports a placement whose tenant tables Move cannot
	// move exactly, before anything is copied: sqlscope.Audit finds a
	// problem, a tenant table carries a restrictive policy (either may
	// hide some of the tenant's rows from Move's reads and deletes), the
	// guard function does not return the tenant, a tenant table takes part
	// in inheritance that is not partitioning, or draws keys from a
	// sequence. The error names each problem.
	ErrNotMovable = errors.New("placement: tenant tables that Move cannot move exactly")
)
