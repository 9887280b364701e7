package blobstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tenantwall/tenantwall/tenant"
)

// mode is how a download handler serves an object; the options choose it.
type mode uint8

const (
	// modeStream copies the object through Go, with Range support.
	modeStream mode = iota + 1
	// modeAccelRedirect answers with an nginx X-Accel-Redirect header to an
	// internal location, built only from the validated key; nginx serves
	// the bytes, Go keeps the decision and the headers.
	modeAccelRedirect
	// modeSignedURL redirects to a short-lived signed URL from the driver,
	// signed only after the tenant check.
	modeSignedURL
)

// File is what a Lookup returns: the object's key in the request tenant's
// bucket and, optionally, the name to download it as.
type File struct {
	Key  string // the object's key, relative to the request tenant's prefix
	Name string // the download's file name; empty means the name stored at upload
}

// Lookup finds the object a request asks for, scoped to the request's
// tenant — typically a database row read through sqlscope. It returns an
// error wrapping ErrNotFound for a missing object, and a *ForeignError for
// another tenant's when it can tell; both answer the same 404.
type Lookup func(r *http.Request) (File, error)

// ForeignError is what a Lookup returns when the requested object exists
// but belongs to another tenant. The handler answers 404, exactly as for a
// missing object, and reports the attempt to the auditor.
type ForeignError struct {
	OwnerID  string // the tenant that owns the object
	Resource string // what was asked for, such as "document 42"
}

// Error implements error.
func (e *ForeignError) Error() string {
	return "blobstore: " + e.Resource + " belongs to another tenant"
}

// Is makes a ForeignError match ErrNotFound.
func (e *ForeignError) Is(target error) bool { return target == ErrNotFound }

// DownloadOption configures Store.Handler. An invalid one makes Handler
// return an error wrapping ErrConfig that names it.
type DownloadOption func(*download) error

type download struct {
	mode        mode
	accelPrefix string
	expiry      time.Duration
	log         *slog.Logger
}

// WithAccelRedirect serves through nginx: the response carries
// X-Accel-Redirect: <location><tenant prefix><key>, where location is an
// internal nginx location such as "/protected/media/" aliased to the
// bucket's directory.
func WithAccelRedirect(location string) DownloadOption {
	return func(d *download) error {
		if !strings.HasPrefix(location, "/") || !strings.HasSuffix(location, "/") || strings.Contains(location, "..") {
			return fmt.Errorf("%w: WithAccelRedirect(%q): want an absolute location ending in '/'", ErrConfig, location)
		}
		if d.mode != modeStream {
			return fmt.Errorf("%w: WithAccelRedirect: another serving mode is set already", ErrConfig)
		}
		d.mode, d.accelPrefix = modeAccelRedirect, location
		return nil
	}
}

// WithSignedURL redirects to signed URLs valid for expiry (at most one
// hour). The bucket's driver must support SignedURL.
func WithSignedURL(expiry time.Duration) DownloadOption {
	return func(d *download) error {
		if expiry <= 0 || expiry > time.Hour {
			return fmt.Errorf("%w: WithSignedURL(%v): want at most an hour", ErrConfig, expiry)
		}
		if d.mode != modeStream {
			return fmt.Errorf("%w: WithSignedURL: another serving mode is set already", ErrConfig)
		}
		d.mode, d.expiry = modeSignedURL, expiry
		return nil
	}
}

// WithDownloadLogger sets the logger for server-side failures (default
// slog.Default()). A nil logger is an error.
func WithDownloadLogger(l *slog.Logger) DownloadOption {
	return func(d *download) error {
		if l == nil {
			return fmt.Errorf("%w: WithDownloadLogger(nil)", ErrConfig)
		}
		d.log = l
		return nil
	}
}

// Handler serves downloads of the context tenant's objects found by
// lookup. Missing objects, other tenants' objects, invalid keys and
// requests without a tenant all answer the same 404. Every response that
// carries a file has X-Content-Type-Options: nosniff, a
// Content-Security-Policy that forbids everything and a Content-Disposition
// with an RFC 6266 / RFC 5987 file name. Only the inert image types
// (PNG, JPEG, GIF, WebP) are served as themselves and
// "inline"; every other stored type — HTML, SVG, XML, JavaScript, PDF,
// unknown or malformed — is served as application/octet-stream and
// "attachment". Stream mode supports Range requests.
func (s *Store) Handler(lookup Lookup, opts ...DownloadOption) (http.Handler, error) {
	d := &download{mode: modeStream, log: slog.Default()}
	for _, o := range opts {
		if err := o(d); err != nil {
			return nil, err
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.serve(w, r, lookup, d)
	}), nil
}

func (s *Store) serve(w http.ResponseWriter, r *http.Request, lookup Lookup, d *download) {
	ctx := r.Context()
	b, err := s.Bucket(ctx)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	f, err := lookup(r)
	if err != nil {
		var foreign *ForeignError
		if errors.As(err, &foreign) {
			s.auditor.Audit(ctx, tenant.Event{Kind: tenant.EventCrossTenant, Package: "blobstore",
				TenantID: b.tenantID, OwnerID: foreign.OwnerID, Resource: foreign.Resource})
		}
		if errors.Is(err, ErrNotFound) {
			http.NotFound(w, r)
			return
		}
		d.fail(ctx, w, "lookup", err)
		return
	}
	obj, err := b.Stat(ctx, f.Key)
	if err != nil {
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrInvalidKey) {
			http.NotFound(w, r)
			return
		}
		d.fail(ctx, w, "stat", err)
		return
	}
	name := f.Name
	if name == "" {
		name = obj.Name
	}
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Cache-Control", "private, no-store")
	if essence, ok := inlineEssence(obj.ContentType); ok {
		h.Set("Content-Disposition", disposition("inline", name))
		h.Set("Content-Type", essence)
	} else {
		h.Set("Content-Disposition", disposition("attachment", name))
		h.Set("Content-Type", octetStream)
	}

	switch d.mode {
	case modeAccelRedirect:
		h.Set("X-Accel-Redirect", d.accelPrefix+escapePath(b.prefix+f.Key))
		w.WriteHeader(http.StatusOK)
	case modeSignedURL:
		u, err := b.SignedURL(ctx, f.Key, d.expiry)
		if err != nil {
			d.fail(ctx, w, "sign", err)
			return
		}
		h.Del("Content-Type")
		http.Redirect(w, r, u, http.StatusFound)
	default:
		rd, err := b.Open(ctx, f.Key)
		if err != nil {
			d.fail(ctx, w, "open", err)
			return
		}
		defer rd.Close()
		// ServeContent handles Range, If-Range and If-Modified-Since, and
		// keeps the Content-Type set above.
		http.ServeContent(w, r, "", obj.ModTime, rd)
	}
}

func (d *download) fail(ctx context.Context, w http.ResponseWriter, step string, err error) {
	d.log.ErrorContext(ctx, "blobstore: download failed", "step", step, "err", err)
	http.Error(w, "internal error", http.StatusInternalServerError)
}

// disposition builds a Content-Disposition of the given type ("inline"
// or "attachment") for the display name of name: an ASCII fallback in
// filename= (quotes, backslashes and controls replaced) and the display
// name, UTF-8 percent-encoded, in filename*= (RFC 6266, RFC 5987). The
// display name is name without its path, control and
// bidirectional-override characters; a name without a letter or digit
// (such as ".", "..", "...", " . " or full-width dots) becomes "file", so a
// browser is never offered a dot-only file name.
func disposition(typ, name string) string {
	name = cleanName(name)
	ascii := strings.Map(func(r rune) rune {
		if r < 0x20 || r >= 0x7f || r == '"' || r == '\\' || r == '%' || r == ';' {
			return '_'
		}
		return r
	}, name)
	return typ + `; filename="` + ascii + `"; filename*=UTF-8''` + rfc5987(name)
}

func rfc5987(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$&+-.^_`|~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// escapePath percent-escapes each segment of a validated key for a URI.
func escapePath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}
