package blobstore_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"
	"gocloud.dev/blob/memblob"

	"github.com/tenantwall/tenantwall/blobstore"
	"github.com/tenantwall/tenantwall/tenant"
	"github.com/tenantwall/tenantwall/tenant/tenanttest"
)

// drivers runs fn against fileblob (a temporary directory) and memblob.
func drivers(t *testing.T, fn func(t *testing.T, base *blob.Bucket)) {
	t.Run("fileblob", func(t *testing.T) {
		base, err := fileblob.OpenBucket(t.TempDir(), nil)
		require.NoError(t, err)
		t.Cleanup(func() { base.Close() })
		fn(t, base)
	})
	t.Run("memblob", func(t *testing.T) {
		base := memblob.OpenBucket(nil)
		t.Cleanup(func() { base.Close() })
		fn(t, base)
	})
}

type twoTenants struct {
	a, b       tenant.Tenant
	ctxA, ctxB context.Context
}

func newTwo() twoTenants {
	a, b := tenanttest.NewTenant("acme"), tenanttest.NewTenant("globex")
	return twoTenants{a: a, b: b, ctxA: tenant.NewContext(context.Background(), a), ctxB: tenant.NewContext(context.Background(), b)}
}

func TestUploadAndIsolation(t *testing.T) {
	drivers(t, func(t *testing.T, base *blob.Bucket) {
		store, err := blobstore.New(base)
		require.NoError(t, err)
		tt := newTwo()
		ba, err := store.Bucket(tt.ctxA)
		require.NoError(t, err)
		bb, err := store.Bucket(tt.ctxB)
		require.NoError(t, err)

		obj, err := ba.Upload(tt.ctxA, "documents", "../Q3 Report.pdf", strings.NewReader("%PDF-1.4 secret"), "application/pdf")
		require.NoError(t, err)
		assert.Equal(t, "../Q3 Report.pdf"[3:], obj.Name)
		assert.EqualValues(t, 15, obj.Size)
		assert.Equal(t, "application/pdf", obj.ContentType)
		full, _ := ba.FullKey(obj.Key)
		assert.True(t, strings.HasPrefix(full, "tenants/"+tt.a.ID+"/documents/"), full)

		r, err := ba.Open(tt.ctxA, obj.Key)
		require.NoError(t, err)
		body, _ := io.ReadAll(r)
		r.Close()
		assert.Equal(t, "%PDF-1.4 secret", string(body))

		_, err = bb.Open(tt.ctxB, obj.Key)
		assert.ErrorIs(t, err, blobstore.ErrNotFound, "B opened A's object by its key")
		_, err = bb.Stat(tt.ctxB, obj.Key)
		assert.ErrorIs(t, err, blobstore.ErrNotFound)
		assert.ErrorIs(t, bb.Delete(tt.ctxB, obj.Key), blobstore.ErrNotFound)
		_, err = bb.Open(tt.ctxB, "../"+tt.a.ID+"/"+obj.Key)
		assert.ErrorIs(t, err, blobstore.ErrInvalidKey)

		_, err = store.Bucket(context.Background())
		assert.ErrorIs(t, err, tenant.ErrNoTenant)

		u, err := ba.Usage(tt.ctxA)
		require.NoError(t, err)
		assert.Equal(t, blobstore.Usage{Objects: 1, Bytes: 15}, u)
		u, err = bb.Usage(tt.ctxB)
		require.NoError(t, err)
		assert.Zero(t, u.Objects)
	})
}

func TestUploadsNeverOverwrite(t *testing.T) {
	drivers(t, func(t *testing.T, base *blob.Bucket) {
		store, _ := blobstore.New(base)
		tt := newTwo()
		b, _ := store.Bucket(tt.ctxA)
		var wg sync.WaitGroup
		keys := make([]string, 20)
		for i := range keys {
			wg.Add(1)
			go func() {
				defer wg.Done()
				obj, err := b.Upload(tt.ctxA, "documents", "same.txt", strings.NewReader("v"), "text/plain")
				assert.NoError(t, err)
				keys[i] = obj.Key
			}()
		}
		wg.Wait()
		seen := map[string]bool{}
		for _, k := range keys {
			assert.False(t, seen[k])
			seen[k] = true
		}
		_, err := b.Put(tt.ctxA, keys[0], "x", strings.NewReader("overwrite"), "text/plain")
		assert.ErrorIs(t, err, blobstore.ErrExists)
	})
}

func TestLimitsLeaveNothingBehind(t *testing.T) {
	drivers(t, func(t *testing.T, base *blob.Bucket) {
		store, err := blobstore.New(base, blobstore.WithMaxSize(1024), blobstore.WithContentTypes("application/pdf", "image/png"))
		require.NoError(t, err)
		tt := newTwo()
		b, _ := store.Bucket(tt.ctxA)
		big := io.LimitReader(rand.Reader, 4096)
		_, err = b.Upload(tt.ctxA, "documents", "big.pdf", big, "application/pdf")
		assert.ErrorIs(t, err, blobstore.ErrTooLarge)
		_, err = b.Upload(tt.ctxA, "documents", "x.html", strings.NewReader("<html><script>alert(1)</script>"), "")
		assert.ErrorIs(t, err, blobstore.ErrContentType, "sniffed HTML must be refused by the allow list")
		_, err = b.Upload(tt.ctxA, "documents", "x.svg", strings.NewReader("<svg/>"), "image/svg+xml")
		assert.ErrorIs(t, err, blobstore.ErrContentType)
		_, err = b.Upload(tt.ctxA, "documents", "x.pdf", strings.NewReader("%PDF"), "not a type")
		assert.ErrorIs(t, err, blobstore.ErrContentType)
		u, err := b.Usage(tt.ctxA)
		require.NoError(t, err)
		assert.Zero(t, u.Objects, "a refused upload left an object")

		png := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{0}, 100)...)
		obj, err := b.Upload(tt.ctxA, "photos", "me.png", bytes.NewReader(png), "")
		require.NoError(t, err)
		assert.Equal(t, "image/png", obj.ContentType)
	})
}

func TestOptionsAreValidated(t *testing.T) {
	base := memblob.OpenBucket(nil)
	store, err := blobstore.New(base)
	require.NoError(t, err)
	lookup := func(*http.Request) (blobstore.File, error) { return blobstore.File{}, blobstore.ErrNotFound }
	newStore := func(opts ...blobstore.Option) func() error {
		return func() error { _, err := blobstore.New(base, opts...); return err }
	}
	handler := func(opts ...blobstore.DownloadOption) func() error {
		return func() error { _, err := store.Handler(lookup, opts...); return err }
	}
	cases := []struct {
		name   string
		option string // what the error must name
		build  func() error
	}{
		{"a root without a trailing slash is refused", "WithRoot", newStore(blobstore.WithRoot("tenants"))},
		{"a root that climbs out is refused", "WithRoot", newStore(blobstore.WithRoot("../x/"))},
		{"a bare slash root is refused", "WithRoot", newStore(blobstore.WithRoot("/"))},
		{"a zero size limit is refused", "WithMaxSize", newStore(blobstore.WithMaxSize(0))},
		{"a malformed content type is refused", "WithContentTypes", newStore(blobstore.WithContentTypes("bad type;;"))},
		{"a wildcard content type is refused", "WithContentTypes", newStore(blobstore.WithContentTypes("image/*"))},
		{"a nil bucket is refused", "nil bucket", func() error { _, err := blobstore.New(nil); return err }},
		{"a relative accel location is refused", "WithAccelRedirect", handler(blobstore.WithAccelRedirect("protected/"))},
		{"a signed URL over an hour is refused", "WithSignedURL", handler(blobstore.WithSignedURL(2 * time.Hour))},
		{"a nil download logger is refused", "WithDownloadLogger", handler(blobstore.WithDownloadLogger(nil))},
		{"accel redirect and signed URLs together are refused", "WithSignedURL",
			handler(blobstore.WithAccelRedirect("/protected/"), blobstore.WithSignedURL(time.Minute))},
		{"signed URLs and accel redirect together are refused", "WithAccelRedirect",
			handler(blobstore.WithSignedURL(time.Minute), blobstore.WithAccelRedirect("/protected/"))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.build()
			require.ErrorIs(t, err, blobstore.ErrConfig)
			assert.Contains(t, err.Error(), c.option, "the error names what is wrong")
		})
	}
}

// In signed-URL mode the storage service serves the object itself, so the
// stored object carries the Handler's inline-or-attachment decision.
func TestStoredObjectsCarryTheServingDecision(t *testing.T) {
	drivers(t, func(t *testing.T, base *blob.Bucket) {
		store, err := blobstore.New(base)
		require.NoError(t, err)
		tt := newTwo()
		b, err := store.Bucket(tt.ctxA)
		require.NoError(t, err)
		png := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{0}, 100)...)
		for _, c := range []struct {
			name, ctype, want string
			body              []byte
		}{
			{"page.html", "text/html", "attachment", []byte("<script>alert(1)</script>")},
			{"pic.svg", "image/svg+xml", "attachment", []byte("<svg/>")},
			{"app.js", "text/x-javascript", "attachment", []byte("alert(1)")},
			{"me.png", "image/png", "inline", png},
		} {
			obj, err := b.Upload(tt.ctxA, "documents", c.name, bytes.NewReader(c.body), c.ctype)
			require.NoError(t, err)
			full, _ := b.FullKey(obj.Key)
			attrs, err := base.Attributes(context.Background(), full)
			require.NoError(t, err)
			assert.True(t, strings.HasPrefix(attrs.ContentDisposition, c.want+";"), "%s: %q", c.name, attrs.ContentDisposition)
		}
	})
}
