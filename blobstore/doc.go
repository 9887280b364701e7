// Package blobstore keeps each tenant's files apart on any gocloud.dev
// bucket (a local directory, S3, GCS, Azure): a tenant sees its own prefix
// only, keys cannot leave it, uploads never overwrite each other,
// downloads are safe to serve, and files of a shared layout can be
// migrated into tenant prefixes.
//
//	store, _ := blobstore.New(bucket)               // *blob.Bucket
//	b, _ := store.Bucket(ctx)                       // the context tenant's files
//	obj, _ := b.Upload(ctx, "documents", header.Filename, body, header.Header.Get("Content-Type"))
//	h, _ := store.Handler(lookupDocument)           // secure downloads
//
// # Layout
//
//	tenants/<tenant ID>/<kind>/<16 random hex>_<sanitised file name>
//
// The tenant segment is the immutable ID (the source plan used the slug,
// which can be renamed under existing files).
//
// # Security
//
// gocloud's PrefixedBucket only concatenates strings, so every key is
// checked first: only ASCII letters, digits, '.', '_', '-' and
// '/' separators; no empty or dot-only segment. That refuses "..", ".",
// leading '/', backslashes, percent-encoded dots, NUL and control
// characters, and full-width dots and every other Unicode look-alike,
// before any bucket call. No tenant → tenant.ErrNoTenant. A tenant's
// objects are reached only through Store.Bucket(ctx) or, for platform work
// under tenant.WithPlatformScope (checked and audited by
// tenant.RequirePlatformScope), Store.Migrate; no exported function builds
// a tenant's prefix from a bare ID.
//
// Downloads answer 404 alike for missing objects, other tenants' objects
// and invalid keys; a Lookup that knows the owner returns *ForeignError so
// the attempt is audited. Responses carry X-Content-Type-Options: nosniff,
// Content-Security-Policy: default-src 'none'; sandbox and a
// Content-Disposition with an RFC 6266 / RFC 5987 UTF-8 name. What is
// served inline is decided by an allow-list, never by a list of dangerous
// types: the stored type is parsed with mime.ParseMediaType and only the
// essences image/png, image/jpeg, image/gif and image/webp are served as
// themselves (bare, without parameters) and "inline". Every other type —
// HTML, XHTML, SVG, XML, every JavaScript type of the WHATWG MIME
// Sniffing standard, PDF, text, unknown and malformed ones — is served as
// application/octet-stream and "attachment". X-Accel-Redirect paths are
// built only from the validated key; URLs are signed only after the tenant
// check (in SignedURL mode the storage service sets the headers).
//
// Uploads store their content type parsed and re-formatted; a type that
// does not parse or is not type/subtype is refused with ErrContentType,
// and WithContentTypes compares parsed essences. Display names (the
// original file name, kept for Content-Disposition) lose their path,
// control and bidirectional-override characters, and a name without any
// letter or digit — ".", "..", "...", " . ", Unicode dot look-alikes —
// becomes "file".
//
// # Quota
//
// WithQuota bounds each tenant's bytes and objects (a QuotaFunc gives each
// tenant's Quota, from its plan). Use is counted by reserve then commit:
// an upload reserves one object before anything is written — a tenant at
// its quota is refused with ErrQuota before the bucket is touched — and
// reserves each chunk of the body (up to 1 MiB) before writing it, so an
// upload that would pass the quota is aborted (nothing stored) at the
// chunk that would;
// success turns the reservation into use, failure releases it. What is
// stored plus what is reserved never exceeds the quota, however many
// uploads and deletes run at once. Deletes look the object's size up and
// subtract it once (a tenant's deletes are serialised).
//
// Where the use is kept is a Ledger (WithLedger). The default keeps it in
// this process's memory: a Store counts a tenant's objects by listing its
// prefix the first time it needs them, then keeps the count itself, so a
// restarted process recounts it, and Migrate makes it recount. That count
// is exact within one process only: several processes sharing a bucket
// each count their own uploads, so together they can pass a quota. Give
// them one shared ledger — blobstore/redisquota keeps it in Redis, one Lua
// script per operation, so a reservation against the quota is atomic
// across processes.
//
// A ledger that holds no count (first use, Migrate, a commit or delete it
// could not place, or Redis that lost its data) answers ErrNotCounted and
// the Store recounts from the bucket: BeginRecount, list, Reset. Any
// commit, delete or invalidation of the tenant while the listing runs
// spoils the recount, which is retried (up to 8 times, then the upload
// fails), so a listing that may have missed a change is never installed;
// each count has an epoch, and a commit of a reservation made against an
// earlier count, or a delete that began under one, drops the count rather
// than adjust the wrong one. A reservation lost with the ledger fails its
// upload at the next chunk (nothing stored). A ledger that cannot be
// reached refuses uploads; after a delete or a stored upload it is asked
// to drop the count. WithObserver is told each tenant's use as it changes
// (telemetry.Metrics reports it as gauges).
//
// # Errors
//
// ErrInvalidKey, ErrInvalidKind, ErrTooLarge, ErrQuota, ErrNotCounted,
// ErrContentType, ErrNotFound, ErrExists, ErrVerify and ErrConfig; test
// with errors.Is.
//
// # Testing
//
// The tests run on fileblob (a temporary directory) and memblob;
// FuzzObjectKey checks that a full key always lies under the tenant
// prefix, FuzzSanitizeName that a key name is never empty, dot-only or
// with a separator, and FuzzDisplayName the same of display names.
package blobstore
