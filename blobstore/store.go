package blobstore

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"

	"github.com/tenantwall/tenantwall/tenant"
)

// DefaultRoot is the prefix under which tenant prefixes live.
const DefaultRoot = "tenants/"

// DefaultMaxSize is the default upload limit: 100 MiB.
const DefaultMaxSize = 100 << 20

// Store confines a gocloud.dev bucket to tenant prefixes. Objects of
// tenant T live under
//
//	tenants/<T's ID>/<kind>/<random>_<name>
//
// The segment is the tenant's immutable ID, not its slug as in the source
// plan, so renaming a tenant never strands its files. A Store is safe for
// concurrent use and does not close the base bucket.
type Store struct {
	base *blob.Bucket
	options
	accts accounts
}

// Option configures a Store. Options write to a private options value,
// never to a live Store, and an invalid one makes New return an error
// wrapping ErrConfig that names it.
type Option func(*options) error

// options are what New's options set; Store embeds them.
type options struct {
	root     string
	maxSize  int64
	types    map[string]bool // allowed media types; empty allows all
	auditor  tenant.Auditor
	quota    QuotaFunc
	observer Observer
	ledger   Ledger
	counted  bool // quota, observer or ledger set: use is accounted
}

// WithRoot sets the prefix of all tenant prefixes (default DefaultRoot).
// It must be a valid key followed by '/'.
func WithRoot(root string) Option {
	return func(o *options) error {
		if !strings.HasSuffix(root, "/") || checkKey(strings.TrimSuffix(root, "/")) != nil {
			return fmt.Errorf("%w: WithRoot(%q): want a valid key followed by '/'", ErrConfig, root)
		}
		o.root = root
		return nil
	}
}

// WithMaxSize sets the upload limit in bytes (default DefaultMaxSize).
func WithMaxSize(n int64) Option {
	return func(o *options) error {
		if n <= 0 {
			return fmt.Errorf("%w: WithMaxSize(%d): not positive", ErrConfig, n)
		}
		o.maxSize = n
		return nil
	}
}

// WithContentTypes allows only these media types for uploads (such as
// "application/pdf", "image/png"); by default every type is accepted.
// Each must be a bare type/subtype: parameters and wildcards ("image/*")
// are refused with ErrConfig. An upload is compared by its parsed,
// lowercased essence, so case, blanks and parameters cannot smuggle a type
// past the list, and a type whose parameters do not parse is refused.
// Whatever is accepted, downloads render inline only PNG, JPEG, GIF and
// WebP images (see Store.Handler).
func WithContentTypes(types ...string) Option {
	return func(o *options) error {
		for _, t := range types {
			mt, params, err := mime.ParseMediaType(t)
			if err != nil || len(params) > 0 || !strings.Contains(mt, "/") || strings.Contains(mt, "*") || mt != strings.TrimSpace(strings.ToLower(t)) {
				return fmt.Errorf("%w: WithContentTypes: content type %q: want a bare type/subtype", ErrConfig, t)
			}
			o.types[mt] = true
		}
		return nil
	}
}

// WithAuditor sets where cross-tenant downloads are reported (default
// tenant.DefaultAuditor).
func WithAuditor(a tenant.Auditor) Option {
	return func(o *options) error { o.auditor = tenant.OrDefault(a); return nil }
}

// New returns a Store over base.
func New(base *blob.Bucket, opts ...Option) (*Store, error) {
	if base == nil {
		return nil, fmt.Errorf("%w: nil bucket", ErrConfig)
	}
	o := options{root: DefaultRoot, maxSize: DefaultMaxSize, types: map[string]bool{}, auditor: tenant.DefaultAuditor}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	o.counted = o.quota != nil || o.observer != nil || o.ledger != nil
	if o.ledger == nil {
		o.ledger = newMemLedger()
	}
	return &Store{base: base, options: o, accts: accounts{m: map[string]*sync.Mutex{}}}, nil
}

// tenantPrefix returns the full prefix of a tenant's objects. It is
// unexported because it names any tenant without a context: only Bucket
// (from the context tenant) and Migrate (under a platform scope) use it.
func (s *Store) tenantPrefix(tenantID string) string { return s.root + tenantID + "/" }

// Bucket is one tenant's view of the store. Every method validates the key
// with checkKey before any bucket call, so no key can leave the prefix.
// Safe for concurrent use.
type Bucket struct {
	s        *Store
	tenantID string
	prefix   string
}

// Bucket returns the context tenant's bucket, or tenant.ErrNoTenant.
func (s *Store) Bucket(ctx context.Context) (*Bucket, error) {
	id, err := tenant.IDFromContext(ctx)
	if err != nil {
		return nil, err
	}
	return &Bucket{s: s, tenantID: id, prefix: s.tenantPrefix(id)}, nil
}

// fullKey returns the key in the base bucket for a tenant-relative key,
// after checkKey.
func (b *Bucket) fullKey(key string) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	return b.prefix + key, nil
}

// Object describes a stored object.
type Object struct {
	Key         string    // relative to the tenant's prefix
	Name        string    // the user's file name, for downloads
	Size        int64     // bytes
	ContentType string    // as stored: parsed and re-formatted at upload
	ModTime     time.Time // last modification, as the bucket reports it
	MD5         []byte    // content checksum, when the driver provides one
}

// metaName is the metadata key holding the user's original file name.
const metaName = "filename"

// Upload streams r into a new object of the given kind, named after the
// user's file name, and returns it. Nothing is buffered whole: the body is
// copied as it arrives, and an upload over the size limit or of a refused
// content type is aborted so that nothing is stored. contentType may be
// empty, in which case it is sniffed from the first 512 bytes.
func (b *Bucket) Upload(ctx context.Context, kind, filename string, r io.Reader, contentType string) (Object, error) {
	key, err := newKey(kind, filename)
	if err != nil {
		return Object{}, err
	}
	return b.Put(ctx, key, filename, r, contentType)
}

// Put is Upload to a chosen key, which must not exist.
func (b *Bucket) Put(ctx context.Context, key, filename string, r io.Reader, contentType string) (Object, error) {
	full, err := b.fullKey(key)
	if err != nil {
		return Object{}, err
	}
	br := bufio.NewReaderSize(r, 512)
	mt := contentType
	if mt == "" {
		head, _ := br.Peek(512)
		mt = http.DetectContentType(head)
	}
	// The type is stored as parsed and re-formatted, so what a download
	// later decides on is exactly what was checked here.
	parsed, params, err := mime.ParseMediaType(mt)
	if err != nil {
		return Object{}, fmt.Errorf("%w: %q: %w", ErrContentType, mt, err)
	}
	if !strings.Contains(parsed, "/") {
		return Object{}, fmt.Errorf("%w: %q: want type/subtype", ErrContentType, mt)
	}
	if len(b.s.types) > 0 && !b.s.types[parsed] {
		return Object{}, fmt.Errorf("%w: %q", ErrContentType, parsed)
	}
	if mt = mime.FormatMediaType(parsed, params); mt == "" {
		return Object{}, fmt.Errorf("%w: %q", ErrContentType, parsed)
	}
	var res *reservation
	if b.s.accounting() {
		if res, err = b.reserve(ctx); err != nil {
			return Object{}, err
		}
	}
	stored := false
	defer func() {
		if res != nil {
			res.done(ctx, stored)
		}
	}()
	wctx, abort := context.WithCancel(ctx)
	defer abort()
	// The storage service is told the same inline-or-attachment decision
	// the Handler makes, because in signed-URL mode it serves the object
	// itself, on an origin every tenant shares.
	disp := "attachment"
	if _, ok := inlineEssence(mt); ok {
		disp = "inline"
	}
	w, err := b.s.base.NewWriter(wctx, full, &blob.WriterOptions{
		ContentType:        mt,
		ContentDisposition: disposition(disp, filename),
		Metadata:           map[string]string{metaName: cleanName(filename)},
		IfNotExist:         true,
	})
	if err != nil {
		return Object{}, fmt.Errorf("blobstore: put %q: %w", key, err)
	}
	dst, flush, release := writer(wctx, w, res)
	defer release()
	n, err := io.Copy(dst, io.LimitReader(br, b.s.maxSize+1))
	if err == nil && n > b.s.maxSize {
		err = fmt.Errorf("%w: over %d bytes", ErrTooLarge, b.s.maxSize)
	}
	if err == nil {
		err = flush()
	}
	if err != nil {
		abort() // gocloud: cancelling the writer's context discards the object
		_ = w.Close()
		return Object{}, err
	}
	if err := w.Close(); err != nil {
		if gcerrors.Code(err) == gcerrors.FailedPrecondition {
			return Object{}, fmt.Errorf("%w: %q", ErrExists, key)
		}
		return Object{}, fmt.Errorf("blobstore: put %q: %w", key, err)
	}
	stored = true
	return b.Stat(ctx, key)
}

// Stat returns an object's attributes; ErrNotFound if it does not exist
// in this tenant's prefix.
func (b *Bucket) Stat(ctx context.Context, key string) (Object, error) {
	full, err := b.fullKey(key)
	if err != nil {
		return Object{}, err
	}
	a, err := b.s.base.Attributes(ctx, full)
	if err != nil {
		return Object{}, notFound(key, err)
	}
	name := a.Metadata[metaName]
	if name == "" {
		name = key[strings.LastIndexByte(key, '/')+1:]
	}
	return Object{Key: key, Name: name, Size: a.Size, ContentType: a.ContentType, ModTime: a.ModTime, MD5: a.MD5}, nil
}

// Open streams an object; close the reader. Readers support Seek, for
// Range requests.
func (b *Bucket) Open(ctx context.Context, key string) (*blob.Reader, error) {
	full, err := b.fullKey(key)
	if err != nil {
		return nil, err
	}
	r, err := b.s.base.NewReader(ctx, full, nil)
	if err != nil {
		return nil, notFound(key, err)
	}
	return r, nil
}

// Delete removes an object.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	full, err := b.fullKey(key)
	if err != nil {
		return err
	}
	if b.s.accounting() {
		return b.deleteCounted(ctx, key, full)
	}
	if err := b.s.base.Delete(ctx, full); err != nil {
		return notFound(key, err)
	}
	return nil
}

// Usage is a tenant's storage use.
type Usage struct {
	Objects int64 // number of objects under the tenant's prefix
	Bytes   int64 // their total size
}

// Usage lists the tenant's objects and adds up their sizes.
func (b *Bucket) Usage(ctx context.Context) (Usage, error) {
	var u Usage
	it := b.s.base.List(&blob.ListOptions{Prefix: b.prefix})
	for {
		obj, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			return u, nil
		}
		if err != nil {
			return u, fmt.Errorf("blobstore: usage: %w", err)
		}
		if !obj.IsDir {
			u.Objects++
			u.Bytes += obj.Size
		}
	}
}

// SignedURL returns a short-lived URL for reading an object, if the driver
// supports signing. The object must exist in this tenant's prefix: the
// tenant is checked before anything is signed.
func (b *Bucket) SignedURL(ctx context.Context, key string, expiry time.Duration) (string, error) {
	if _, err := b.Stat(ctx, key); err != nil {
		return "", err
	}
	full, _ := b.fullKey(key)
	return b.s.base.SignedURL(ctx, full, &blob.SignedURLOptions{Expiry: expiry, Method: http.MethodGet})
}

func notFound(key string, err error) error {
	if gcerrors.Code(err) == gcerrors.NotFound {
		return fmt.Errorf("%w: %q", ErrNotFound, key)
	}
	return fmt.Errorf("blobstore: %q: %w", key, err)
}
