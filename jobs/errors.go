package jobs

import "errors"

// Sentinel errors. Functions wrap them with %w and the offending job kind
// or ID, so callers test with errors.Is. A missing tenant at insert time
// is tenant.ErrNoTenant, wrapped with the job's kind.
var (
	// ErrNoJobTenant reports a job whose metadata names no tenant, or a
	// value that is not a tenant ID. Such a job was inserted around the
	// envelope (another client, raw SQL); it is cancelled, never run.
	ErrNoJobTenant = errors.New("jobs: job carries no valid tenant")

	// ErrMetadataTenant reports an insert whose InsertOpts.Metadata already
	// holds the envelope's tenant key: the tenant comes from the inserting
	// context only, never from a value the caller assembled.
	ErrMetadataTenant = errors.New("jobs: metadata names a tenant")

	// ErrPlatformJob reports a platform job kind (WithPlatformKinds)
	// inserted from a context that carries a tenant, or found carrying a
	// tenant when worked: platform work is never started on a tenant's
	// behalf.
	ErrPlatformJob = errors.New("jobs: platform job in a tenant's scope")

	// ErrForeignJob reports a listing (Envelope.List) that River answered
	// with a job whose metadata names another tenant, or none: the whole
	// listing is refused, since a predicate of the caller's widened it.
	ErrForeignJob = errors.New("jobs: job of another tenant")

	// ErrSuspended is the cancellation cause of a suspended tenant's job
	// when the envelope discards such jobs (WithSuspendedSnooze(0)).
	ErrSuspended = errors.New("jobs: tenant is suspended")

	// ErrInvalidOption reports an option given an unusable value.
	ErrInvalidOption = errors.New("jobs: invalid option")
)
