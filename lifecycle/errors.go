package lifecycle

import "errors"

// Sentinel errors; test with errors.Is. The wrapping error names the
// tenant, table, entry or store concerned.
var (
	// ErrConfig reports an invalid option or constructor argument.
	ErrConfig = errors.New("lifecycle: invalid configuration")

	// ErrArchive reports an archive that is malformed, of an unknown
	// format, or whose entries do not match its manifest (a checksum,
	// size, count or name). Import writes nothing when it returns it.
	ErrArchive = errors.New("lifecycle: invalid archive")

	// ErrSignature reports an archive that a Manager with archive keys
	// (WithArchiveKeys) cannot authenticate: it has no signature, or one
	// that none of the keys verifies (the archive was changed after it
	// was signed, or signed with another key). It comes wrapped together
	// with ErrArchive. Import writes nothing when it returns it.
	ErrSignature = errors.New("lifecycle: archive not signed by an archive key")

	// ErrForeignRow reports an archive row that does not belong to the
	// archive's tenant: another tenant_id, or a foreign key into a row
	// the tenant does not own. Import writes nothing when it returns it.
	ErrForeignRow = errors.New("lifecycle: row of another tenant in archive")

	// ErrSchema reports an archive that does not fit the target database:
	// a table or column the target does not have, another dialect, or a
	// foreign key of the target that Import cannot check (into a table
	// not in the catalog, or with columns that do not resolve).
	ErrSchema = errors.New("lifecycle: archive does not fit the schema")

	// ErrExists reports an import of a tenant that exists on the target
	// already (its ID, slug, a domain, or rows with its ID).
	ErrExists = errors.New("lifecycle: tenant exists on the target")

	// ErrDomainPolicy reports an archive with a domain that the
	// Manager's domain policy (WithDomainPolicy) refuses. The wrapping
	// error names the host and holds the policy's error. Import writes
	// nothing when it returns it.
	ErrDomainPolicy = errors.New("lifecycle: domain refused by the domain policy")

	// ErrNotSuspended reports a delete of a tenant that was not
	// suspended first (Schedule).
	ErrNotSuspended = errors.New("lifecycle: tenant is not suspended")

	// ErrGracePeriod reports a delete, without confirmation, before the
	// tenant's grace period has passed.
	ErrGracePeriod = errors.New("lifecycle: grace period not over")

	// ErrSurvived reports a verification that found something of a
	// deleted tenant: a row, a Redis key or an object naming it.
	ErrSurvived = errors.New("lifecycle: data of the deleted tenant survives")
)
