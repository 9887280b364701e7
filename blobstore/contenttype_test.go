package blobstore_test

import (
	"context"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gocloud.dev/blob"
	"gocloud.dev/blob/memblob"

	"github.com/tenantwall/tenantwall/blobstore"
)

// javaScriptEssences is every JavaScript MIME type essence of the WHATWG
// MIME Sniffing standard (§4.6, "JavaScript MIME type").
var javaScriptEssences = []string{
	"application/ecmascript", "application/javascript", "application/x-ecmascript", "application/x-javascript",
	"text/ecmascript", "text/javascript", "text/javascript1.0", "text/javascript1.1", "text/javascript1.2",
	"text/javascript1.3", "text/javascript1.4", "text/javascript1.5", "text/jscript", "text/livescript",
	"text/x-ecmascript", "text/x-javascript",
}

// activeTypes are documents a browser renders with script, styles or
// plugins, or that a page can load as code: never inline.
var activeTypes = []string{
	"text/html", "application/xhtml+xml", "image/svg+xml", "text/xml", "application/xml", "text/xsl",
	"application/xslt+xml", "application/rss+xml", "application/atom+xml", "application/mathml+xml",
	"application/vnd.wap.xhtml+xml", "text/vtt", "text/css", "application/json", "application/ld+json",
	"application/wasm", "multipart/x-mixed-replace", "application/pdf", "application/x-pdf",
	"application/x-shockwave-flash", "application/java-archive", "application/x-silverlight-app",
	"text/cache-manifest", "application/manifest+json", "text/plain", "text/markdown", "text/csv",
	"application/octet-stream", "image/x-icon", "image/bmp", "image/tiff", "image/avif", "image/heic",
	"video/mp4", "audio/mpeg", "model/vnd.usdz+zip", "application/x-www-form-urlencoded",
	"text/x-component", "text/x-scriptlet", "application/hta", "application/x-msdownload",
}

// variants spells ct the ways an uploader controls: case, blanks and
// parameters that try to change what the type means.
func variants(ct string) []string {
	upper := strings.ToUpper(ct)
	mixed := strings.ToUpper(ct[:1]) + ct[1:]
	return []string{
		ct, upper, mixed, " " + ct, ct + " ", "\t" + ct + "\t",
		ct + "; charset=utf-8", upper + ";CHARSET=UTF-8", ct + " ; version=1",
		ct + `; x="image/png"`, ct + `; type="image/png"`, ct + "; boundary=x; charset=utf-8",
	}
}

func TestSafeContentTypeServesOnlyTheAllowList(t *testing.T) {
	t.Run("every JavaScript, markup, document and unknown type is served as octet-stream", func(t *testing.T) {
		for _, ct := range append(append([]string{}, javaScriptEssences...), activeTypes...) {
			for _, v := range variants(ct) {
				assert.Equal(t, "application/octet-stream", blobstore.SafeContentType(v), "%q", v)
			}
		}
	})
	t.Run("malformed types are served as octet-stream", func(t *testing.T) {
		for _, ct := range []string{
			"", " ", "garbage", "image", "image/", "/png", "image/png/x", "image//png", "image/png,text/html",
			"image/png, text/html", "image/png text/html", "image/png; charset", `image/png; x="`,
			"image/png; x=a; x=b", "image/png\x00", "image/png\r\nX-Evil: 1", "image/\u0440ng", "ｉｍａｇｅ/png",
			"image /png", "image/ png", `"image/png"`, "image/png; =x", "*/*", "image/*",
			"image/png+xml", "image/svg+xml; x=image/png", "text/html; image/png",
		} {
			assert.Equal(t, "application/octet-stream", blobstore.SafeContentType(ct), "%q", ct)
		}
	})
	t.Run("inert images are served as their bare essence", func(t *testing.T) {
		for _, ct := range []string{"image/png", "image/jpeg", "image/gif", "image/webp"} {
			for _, v := range variants(ct) {
				assert.Equal(t, ct, blobstore.SafeContentType(v), "%q", v)
			}
		}
	})
}

// storeTyped stores one object per content type (bypassing Upload's own
// checks, as an object written by another tool would be) and returns a
// handler serving the object whose key is in the query.
func storeTyped(t *testing.T, types []string) (http.Handler, map[string]string, context.Context) {
	t.Helper()
	base := memblob.OpenBucket(nil)
	t.Cleanup(func() { base.Close() })
	store, err := blobstore.New(base)
	require.NoError(t, err)
	tt := newTwo()
	keys := map[string]string{}
	for i, ct := range types {
		key := fmt.Sprintf("documents/f%04d.bin", i)
		full := store.Prefix(tt.a.ID) + key
		// gocloud refuses to store some malformed types; those can never
		// reach a download.
		if err := base.WriteAll(tt.ctxA, full, []byte("<script>alert(1)</script>"), &blob.WriterOptions{ContentType: ct}); err == nil {
			keys[ct] = key
		}
	}
	h, err := store.Handler(func(r *http.Request) (blobstore.File, error) {
		return blobstore.File{Key: r.URL.Query().Get("k"), Name: "x"}, nil
	})
	require.NoError(t, err)
	return withTenant(h, &tt.a), keys, tt.ctxA
}

func TestDownloadNeverServesActiveTypesInline(t *testing.T) {
	var hostile []string
	for _, ct := range append(append([]string{}, javaScriptEssences...), activeTypes...) {
		for _, v := range variants(ct) {
			// A stored type is whatever the driver kept; memblob keeps it
			// as given, blanks aside.
			hostile = append(hostile, strings.TrimSpace(v))
		}
	}
	hostile = append(hostile, "garbage", "image", "image/png; x=\"", "image/png,text/html")
	inert := []string{"image/png", "image/jpeg", "image/gif", "image/webp", "IMAGE/PNG; charset=x"}
	h, keys, _ := storeTyped(t, append(append([]string{}, hostile...), inert...))

	t.Run("active and unknown types are octet-stream attachments", func(t *testing.T) {
		for _, ct := range hostile {
			if keys[ct] == "" {
				continue
			}
			rec := get(t, h, "/d?k="+keys[ct], nil)
			require.Equal(t, http.StatusOK, rec.Code, "%q", ct)
			assert.Equal(t, "application/octet-stream", rec.Header().Get("Content-Type"), "%q", ct)
			disp, _, err := mime.ParseMediaType(rec.Header().Get("Content-Disposition"))
			require.NoError(t, err)
			assert.Equal(t, "attachment", disp, "%q", ct)
			assert.Equal(t, "nosniff", rec.Header().Get("X-Content-Type-Options"))
			assert.Contains(t, rec.Header().Get("Content-Security-Policy"), "sandbox")
		}
	})
	t.Run("inert images are inline, with their bare essence", func(t *testing.T) {
		for _, ct := range inert {
			require.NotEmpty(t, keys[ct], "%q", ct)
			rec := get(t, h, "/d?k="+keys[ct], nil)
			require.Equal(t, http.StatusOK, rec.Code, "%q", ct)
			want, _, _ := mime.ParseMediaType(ct)
			assert.Equal(t, want, rec.Header().Get("Content-Type"), "%q", ct)
			disp, params, err := mime.ParseMediaType(rec.Header().Get("Content-Disposition"))
			require.NoError(t, err)
			assert.Equal(t, "inline", disp, "%q", ct)
			assert.Equal(t, "x", params["filename"])
			assert.Equal(t, "nosniff", rec.Header().Get("X-Content-Type-Options"))
		}
	})
}

func TestUploadContentTypeAllowList(t *testing.T) {
	base := memblob.OpenBucket(nil)
	t.Cleanup(func() { base.Close() })
	store, err := blobstore.New(base, blobstore.WithContentTypes("image/png", "application/pdf"))
	require.NoError(t, err)
	tt := newTwo()
	b, err := store.Bucket(tt.ctxA)
	require.NoError(t, err)

	t.Run("types outside the list are refused in every spelling", func(t *testing.T) {
		for _, ct := range append(append([]string{}, javaScriptEssences...), "text/html", "image/svg+xml", "image/png+xml",
			"image/pngx", "image", "garbage", "image/*", "*/*", "application/pdf+xml", "application/x-pdf",
			"image/png,text/html", `image/png; x="`, "image/png; x=a; x=b", "ｉｍａｇｅ/png", "image/png\x00") {
			_, err := b.Upload(tt.ctxA, "documents", "x.png", strings.NewReader("x"), ct)
			assert.ErrorIs(t, err, blobstore.ErrContentType, "%q", ct)
		}
	})
	t.Run("listed types are accepted in any case and stored normalised", func(t *testing.T) {
		for ct, stored := range map[string]string{
			"image/png": "image/png", "IMAGE/PNG": "image/png", " image/png ": "image/png",
			"Application/PDF; Version=1.7": "application/pdf; version=1.7",
		} {
			obj, err := b.Upload(tt.ctxA, "documents", "x.png", strings.NewReader("x"), ct)
			require.NoError(t, err, "%q", ct)
			assert.Equal(t, stored, obj.ContentType, "%q", ct)
		}
	})
	t.Run("without a list, a type that is not type/subtype is refused", func(t *testing.T) {
		open, err := blobstore.New(base)
		require.NoError(t, err)
		ob, err := open.Bucket(tt.ctxA)
		require.NoError(t, err)
		for _, ct := range []string{"garbage", "image", `image/png; x="`} {
			_, err := ob.Upload(tt.ctxA, "documents", "x", strings.NewReader("x"), ct)
			assert.ErrorIs(t, err, blobstore.ErrContentType, "%q", ct)
		}
	})
	t.Run("the list itself must be bare types", func(t *testing.T) {
		for _, ct := range []string{"image/*", "*/*", "image", "image/png; charset=x", "", "image/png;", "image/png,image/gif"} {
			_, err := blobstore.New(base, blobstore.WithContentTypes(ct))
			assert.ErrorIs(t, err, blobstore.ErrConfig, "%q", ct)
		}
	})
}
