package blobstore

import "errors"

// Sentinel errors; test with errors.Is. A missing tenant is
// tenant.ErrNoTenant.
var (
	// ErrInvalidKey reports an object key that could leave the tenant's
	// prefix or is not in the safe key alphabet; nothing was sent to the
	// bucket.
	ErrInvalidKey = errors.New("blobstore: invalid object key")

	// ErrInvalidKind reports an upload kind that is not a short
	// lowercase name.
	ErrInvalidKind = errors.New("blobstore: invalid kind")

	// ErrTooLarge reports an upload over the size limit; nothing was
	// stored.
	ErrTooLarge = errors.New("blobstore: object too large")

	// ErrQuota reports an upload that would take the tenant past its
	// storage quota (WithQuota); nothing was stored.
	ErrQuota = errors.New("blobstore: storage quota exceeded")

	// ErrNotCounted reports, from a Ledger, that it holds no count of the
	// tenant's use (never counted, dropped, or lost with its storage) or
	// no longer the reservation or count a call referred to; the Store
	// recounts from the bucket.
	ErrNotCounted = errors.New("blobstore: storage use not counted")

	// ErrContentType reports an upload whose content type is not allowed;
	// nothing was stored.
	ErrContentType = errors.New("blobstore: content type not allowed")

	// ErrNotFound reports a missing object — or one of another tenant,
	// which is indistinguishable by design.
	ErrNotFound = errors.New("blobstore: object not found")

	// ErrExists reports an upload to a key that is taken.
	ErrExists = errors.New("blobstore: object exists")

	// ErrVerify reports, in a MigrationReport's Failed list, an object
	// whose copy did not match its source (size or checksum). The bad
	// copy was removed and the source kept; a rerun copies it again.
	ErrVerify = errors.New("blobstore: copy does not match its source")

	// ErrConfig reports an invalid option.
	ErrConfig = errors.New("blobstore: invalid configuration")
)
