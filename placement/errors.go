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
	// only, or different columns or foreign keys. Nothing was copied; the
	// error names each difference. Migrate both alike, then move.
	ErrSchemaMismatch = errors.New("placement: the placements' tenant tables differ")

	// ErrCopyMismatch reports a move whose copy differs from its source;
	// nothing was switched or removed.
	ErrCopyMismatch = errors.New("placement: copied rows differ from the source")
)
