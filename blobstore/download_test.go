package blobstore_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"

	"github.com/tenantwall/tenantwall/blobstore"
	"github.com/tenantwall/tenantwall/tenant"
	"github.com/tenantwall/tenantwall/tenant/tenanttest"
)

// docs is a toy document table: id → (owner, key, name), read the way an
// application would, scoped to the request's tenant.
type docs struct {
	mu   sync.Mutex
	rows map[string][3]string
}

func (d *docs) lookup(r *http.Request) (blobstore.File, error) {
	id := r.URL.Query().Get("id")
	d.mu.Lock()
	row, ok := d.rows[id]
	d.mu.Unlock()
	t, _ := tenant.FromContext(r.Context())
	if !ok {
		return blobstore.File{}, blobstore.ErrNotFound
	}
	if row[0] != t.ID {
		return blobstore.File{}, &blobstore.ForeignError{OwnerID: row[0], Resource: "document " + id}
	}
	return blobstore.File{Key: row[1], Name: row[2]}, nil
}

func withTenant(h http.Handler, t *tenant.Tenant) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if t != nil {
			r = r.WithContext(tenant.NewContext(r.Context(), *t))
		}
		h.ServeHTTP(w, r)
	})
}

type dlFixture struct {
	store *blobstore.Store
	tt    twoTenants
	docs  *docs
	audit *tenanttest.AuditRecorder
}

func newDL(t *testing.T, base *blob.Bucket) *dlFixture {
	t.Helper()
	f := &dlFixture{tt: newTwo(), docs: &docs{rows: map[string][3]string{}}, audit: &tenanttest.AuditRecorder{}}
	var err error
	f.store, err = blobstore.New(base, blobstore.WithAuditor(f.audit))
	require.NoError(t, err)
	put := func(ctx context.Context, id, name, ct, body string) {
		b, _ := f.store.Bucket(ctx)
		obj, err := b.Upload(ctx, "documents", name, strings.NewReader(body), ct)
		require.NoError(t, err)
		tn := tenant.MustFromContext(ctx)
		f.docs.rows[id] = [3]string{tn.ID, obj.Key, name}
	}
	put(f.tt.ctxA, "1", `Angebot "Q3"; ünïcode.pdf`, "application/pdf", "0123456789abcdefghij")
	put(f.tt.ctxA, "2", "page.html", "text/html", "<script>alert(document.cookie)</script>")
	put(f.tt.ctxA, "3", "logo.svg", "image/svg+xml", `<svg onload="alert(1)"/>`)
	put(f.tt.ctxB, "9", "secret.pdf", "application/pdf", "B's secret")
	return f
}

func get(t *testing.T, h http.Handler, target string, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest("GET", target, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestDownloadStream(t *testing.T) {
	drivers(t, func(t *testing.T, base *blob.Bucket) {
		f := newDL(t, base)
		h, err := f.store.Handler(f.docs.lookup)
		require.NoError(t, err)
		asA := withTenant(h, &f.tt.a)

		rec := get(t, asA, "/download?id=1", nil)
		require.Equal(t, http.StatusOK, rec.Code)
		assert.Equal(t, "0123456789abcdefghij", rec.Body.String())
		assert.Equal(t, "application/octet-stream", rec.Header().Get("Content-Type"), "PDF is not in the inline allow-list")
		assert.Equal(t, "nosniff", rec.Header().Get("X-Content-Type-Options"))
		assert.Contains(t, rec.Header().Get("Content-Security-Policy"), "default-src 'none'")
		cd := rec.Header().Get("Content-Disposition")
		assert.Equal(t, `attachment; filename="Angebot _Q3__ _n_code.pdf"; filename*=UTF-8''Angebot%20%22Q3%22%3B%20%C3%BCn%C3%AFcode.pdf`, cd)

		for _, id := range []string{"2", "3"} {
			rec := get(t, asA, "/download?id="+id, nil)
			require.Equal(t, http.StatusOK, rec.Code)
			assert.Equal(t, "application/octet-stream", rec.Header().Get("Content-Type"), "doc %s would execute in a browser", id)
			assert.True(t, strings.HasPrefix(rec.Header().Get("Content-Disposition"), "attachment;"))
		}

		rec = get(t, asA, "/download?id=1", map[string]string{"Range": "bytes=5-9"})
		assert.Equal(t, http.StatusPartialContent, rec.Code)
		assert.Equal(t, "56789", rec.Body.String())
		assert.Equal(t, "bytes 5-9/20", rec.Header().Get("Content-Range"))

		missing := get(t, asA, "/download?id=404", nil)
		foreign := get(t, asA, "/download?id=9", nil)
		assert.Equal(t, http.StatusNotFound, missing.Code)
		assert.Equal(t, http.StatusNotFound, foreign.Code, "another tenant's file must look absent")
		assert.Equal(t, missing.Body.String(), foreign.Body.String())
		assert.Empty(t, foreign.Header().Get("Content-Disposition"))
		assert.NotContains(t, foreign.Body.String(), "secret")
		e, ok := f.audit.Last()
		require.True(t, ok)
		assert.Equal(t, tenant.EventCrossTenant, e.Kind)
		assert.Equal(t, f.tt.b.ID, e.OwnerID)
		assert.Equal(t, f.tt.a.ID, e.TenantID)

		assert.Equal(t, http.StatusNotFound, get(t, withTenant(h, nil), "/download?id=1", nil).Code, "no tenant, no file")
		// A lookup that (wrongly) hands out another tenant's key still
		// cannot reach it: keys are relative to the request tenant.
		leaky, _ := f.store.Handler(func(*http.Request) (blobstore.File, error) {
			return blobstore.File{Key: f.docs.rows["9"][1]}, nil
		})
		assert.Equal(t, http.StatusNotFound, get(t, withTenant(leaky, &f.tt.a), "/d", nil).Code)
		broken, _ := f.store.Handler(func(*http.Request) (blobstore.File, error) { return blobstore.File{}, errors.New("db down") },
			blobstore.WithDownloadLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
		assert.Equal(t, http.StatusInternalServerError, get(t, withTenant(broken, &f.tt.a), "/d", nil).Code)
	})
}

func TestDownloadAccelRedirect(t *testing.T) {
	drivers(t, func(t *testing.T, base *blob.Bucket) {
		f := newDL(t, base)
		h, err := f.store.Handler(f.docs.lookup, blobstore.WithAccelRedirect("/protected/media/"))
		require.NoError(t, err)
		rec := get(t, withTenant(h, &f.tt.a), "/download?id=1", nil)
		require.Equal(t, http.StatusOK, rec.Code)
		assert.Empty(t, rec.Body.String())
		want := "/protected/media/tenants/" + f.tt.a.ID + "/" + f.docs.rows["1"][1]
		assert.Equal(t, want, rec.Header().Get("X-Accel-Redirect"))
		assert.True(t, strings.HasPrefix(rec.Header().Get("Content-Disposition"), "attachment;"))
		assert.Equal(t, http.StatusNotFound, get(t, withTenant(h, &f.tt.a), "/download?id=9", nil).Code)
		for _, bad := range []string{"protected/", "/protected", "/a/../b/"} {
			_, err := f.store.Handler(f.docs.lookup, blobstore.WithAccelRedirect(bad))
			assert.ErrorIs(t, err, blobstore.ErrConfig)
		}
	})
}

func TestDownloadSignedURL(t *testing.T) {
	dir := t.TempDir()
	signer := fileblob.NewURLSignerHMAC(&url.URL{Scheme: "http", Host: "files.internal", Path: "/signed"}, []byte("0123456789abcdef0123456789abcdef"))
	base, err := fileblob.OpenBucket(dir, &fileblob.Options{URLSigner: signer})
	require.NoError(t, err)
	defer base.Close()
	f := newDL(t, base)
	h, err := f.store.Handler(f.docs.lookup, blobstore.WithSignedURL(time.Minute))
	require.NoError(t, err)
	rec := get(t, withTenant(h, &f.tt.a), "/download?id=1", nil)
	require.Equal(t, http.StatusFound, rec.Code)
	loc, err := url.Parse(rec.Header().Get("Location"))
	require.NoError(t, err)
	assert.Equal(t, "files.internal", loc.Host)
	// The signature covers A's key and nothing else.
	key, err := signer.KeyFromURL(context.Background(), loc)
	require.NoError(t, err)
	assert.Equal(t, "tenants/"+f.tt.a.ID+"/"+f.docs.rows["1"][1], key)
	rec = get(t, withTenant(h, &f.tt.a), "/download?id=9", nil)
	assert.Equal(t, http.StatusNotFound, rec.Code, "nothing is signed for another tenant's file")
	assert.Empty(t, rec.Header().Get("Location"))
	_, err = f.store.Handler(f.docs.lookup, blobstore.WithSignedURL(2*time.Hour))
	assert.ErrorIs(t, err, blobstore.ErrConfig)
}

func TestHeaderHelpers(t *testing.T) {
	for ct, want := range map[string]string{
		"application/pdf": "application/octet-stream", "image/png": "image/png", "text/plain; charset=utf-8": "application/octet-stream",
		"text/html": "application/octet-stream", "TEXT/HTML; charset=utf-8": "application/octet-stream",
		"image/svg+xml": "application/octet-stream", "application/atom+xml": "application/octet-stream",
		"application/javascript": "application/octet-stream", "": "application/octet-stream", "garbage": "application/octet-stream",
	} {
		assert.Equal(t, want, blobstore.SafeContentType(ct), ct)
	}
	for name, want := range map[string]string{
		"a\r\nSet-Cookie: x=y": "aSet-Cookie: x=y", `"; filename="evil.exe`: `"; filename="evil.exe`,
		"..\\..\\x": "x", "\x00": "file", "Ünïcødé 文件.pdf": "Ünïcødé 文件.pdf",
	} {
		cd := blobstore.ContentDisposition(name)
		assert.NotContains(t, cd, "\r")
		assert.NotContains(t, cd, "\n")
		assert.Equal(t, 2, strings.Count(cd, `"`), cd)
		_, params, err := parseCD(cd)
		require.NoError(t, err, cd)
		assert.Equal(t, want, params["filename"], "the name must survive RFC 5987 encoding")
	}
}
