package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tenantwall/tenantwall/blobstore"
	"github.com/tenantwall/tenantwall/sqlscope"
	"github.com/tenantwall/tenantwall/tenant"
)

const maxUpload = 25 << 20

var imageTypes = map[string]bool{"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true}

func (a *app) documentRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/documents/", a.authed(a.uploadDocument))
	mux.HandleFunc("GET /api/documents/", a.authed(a.listDocuments))
	docDownload, _ := a.files.Handler(a.lookupFile("documents", "blob_key", "name"), a.downloadOptions()...)
	mux.Handle("GET /api/documents/{id}/download/", a.authed(docDownload.ServeHTTP))
	mux.HandleFunc("POST /api/applicants/", a.authed(a.createApplicant))
	mux.HandleFunc("GET /api/applicants/", a.authed(a.listApplicants))
	photo, _ := a.files.Handler(a.lookupFile("applicants", "photo_key", "photo_name"), a.downloadOptions()...)
	mux.Handle("GET /api/applicants/{id}/photo/", a.authed(photo.ServeHTTP))
}

// lookupFile finds a row's object key, scoped to the request's tenant; a
// row of another tenant is reported as foreign (audited, 404 all the same).
func (a *app) lookupFile(table, keyCol, nameCol string) blobstore.Lookup {
	return func(r *http.Request) (blobstore.File, error) {
		ctx := r.Context()
		id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
		if err != nil || id <= 0 {
			return blobstore.File{}, blobstore.ErrNotFound
		}
		var f blobstore.File
		err = a.data.tx(ctx, func(flt *sqlscope.Filter) error {
			return flt.QueryRow(ctx, a.data.q(`SELECT `+keyCol+`, `+nameCol+` FROM `+table+` WHERE tenant_id = {tenant} AND id = ?`), id).Scan(&f.Key, &f.Name)
		})
		if errors.Is(err, sql.ErrNoRows) || err == nil && f.Key == "" {
			if owner := a.data.probeOwner(ctx, table, id); owner != "" {
				if me, _ := tenant.IDFromContext(ctx); owner != me {
					return blobstore.File{}, &blobstore.ForeignError{OwnerID: owner, Resource: table + " " + strconv.FormatInt(id, 10)}
				}
			}
			return blobstore.File{}, blobstore.ErrNotFound
		}
		return f, err
	}
}

// openUpload returns the request's multipart reader, with the body
// limited, and the request tenant's bucket; on failure it has answered.
func (a *app) openUpload(w http.ResponseWriter, r *http.Request) (*multipart.Reader, *blobstore.Bucket, bool) {
	mr, err := multipartReader(w, r)
	if err == nil {
		var b *blobstore.Bucket
		if b, err = a.files.Bucket(r.Context()); err == nil {
			return mr, b, true
		}
	}
	a.respond(w, r, 0, nil, err)
	return nil, nil, false
}

// maxUploadBody bounds a whole upload request: one file at the limit plus
// room for the other fields.
const maxUploadBody = maxUpload + 1<<20

func multipartReader(w http.ResponseWriter, r *http.Request) (*multipart.Reader, error) {
	if r.ContentLength > maxUploadBody {
		// Refused before reading: respond answers 413.
		return nil, &http.MaxBytesError{Limit: maxUploadBody}
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxUploadBody)
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		return nil, unsupportedMediaType{"multipart/form-data"}
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, badRequest{"body: " + err.Error()}
	}
	return mr, nil
}

type document struct {
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	Size        int64  `json:"size"`
	ContentType string `json:"content_type"`
	CreatedAt   string `json:"created_at"`
}

func (a *app) uploadDocument(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	mr, b, ok := a.openUpload(w, r)
	if !ok {
		return
	}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			a.respond(w, r, 0, nil, badRequest{`field "file" is required`})
			return
		}
		if err != nil {
			a.uploadFailed(w, r, "", err)
			return
		}
		if part.FormName() != "file" {
			part.Close()
			continue
		}
		if part.FileName() == "" {
			a.respond(w, r, 0, nil, badRequest{`field "file" must be a file`})
			return
		}
		// blobstore keeps the display name safe: a name without a letter
		// or digit (".", "..", Unicode dots) is stored as "file".
		obj, err := b.Upload(ctx, "documents", part.FileName(), part, part.Header.Get("Content-Type"))
		if err != nil {
			a.uploadFailed(w, r, "file", err)
			return
		}
		now := time.Now()
		d := document{Name: obj.Name, Size: obj.Size, ContentType: obj.ContentType, CreatedAt: now.UTC().Format(time.RFC3339)}
		err = a.data.tx(ctx, func(f *sqlscope.Filter) error {
			return f.InsertReturning(ctx, "documents", []string{"name", "size", "content_type", "blob_key", "created_at"},
				[]any{d.Name, d.Size, d.ContentType, obj.Key, now.UnixMilli()}, "id").Scan(&d.ID)
		})
		if err != nil {
			_ = b.Delete(ctx, obj.Key) // no orphan object
			a.respond(w, r, 0, nil, err)
			return
		}
		a.changed(ctx)
		writeJSON(w, http.StatusCreated, d)
		return
	}
}

// uploadFailed answers a failed upload: 413 with a JSON error for a file
// or a body over its limit (whether blobstore or the body limit noticed
// first), 400 for a refused content type or a malformed body, else as
// respond does. field names the form field, or "" for the body.
func (a *app) uploadFailed(w http.ResponseWriter, r *http.Request, field string, err error) {
	if errors.Is(err, blobstore.ErrQuota) {
		writeError(w, http.StatusRequestEntityTooLarge, "storage quota of the tenant's plan exceeded; delete files or upgrade the plan")
		return
	}
	if errors.Is(err, blobstore.ErrTooLarge) || tooLarge(err) {
		msg := "body too large"
		if field != "" {
			msg = `field "` + field + `" is too large`
		}
		writeError(w, http.StatusRequestEntityTooLarge, msg)
		return
	}
	switch {
	case errors.Is(err, errSlowBody):
		// respond answers 408.
	case errors.Is(err, blobstore.ErrContentType):
		err = badRequest{`field "` + field + `" has a content type that is not allowed`}
	case field == "":
		err = badRequest{"body: " + err.Error()}
	}
	a.respond(w, r, 0, nil, err)
}

func (a *app) listDocuments(w http.ResponseWriter, r *http.Request) {
	docs, err := a.documents(r.Context())
	a.respond(w, r, http.StatusOK, map[string]any{"results": docs}, err)
}

// documents lists the context tenant's documents.
func (a *app) documents(ctx context.Context) ([]document, error) {
	docs := []document{}
	err := a.data.tx(ctx, func(f *sqlscope.Filter) error {
		rows, err := f.Query(ctx, `SELECT id, name, size, content_type, created_at FROM documents WHERE tenant_id = {tenant} ORDER BY id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var d document
			var created int64
			if err := rows.Scan(&d.ID, &d.Name, &d.Size, &d.ContentType, &created); err != nil {
				return err
			}
			d.CreatedAt = time.UnixMilli(created).UTC().Format(time.RFC3339)
			docs = append(docs, d)
		}
		return rows.Err()
	})
	return docs, err
}

type applicant struct {
	ID        int64  `json:"id"`
	Name      string `json:"name"`
	HasPhoto  bool   `json:"has_photo"`
	CreatedAt string `json:"created_at"`
}

func (a *app) createApplicant(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	mr, b, ok := a.openUpload(w, r)
	if !ok {
		return
	}
	form, err := readApplicantForm(ctx, mr, b)
	if err != nil {
		var fe *formError
		if errors.As(err, &fe) {
			a.uploadFailed(w, r, fe.field, fe.err)
			return
		}
		a.respond(w, r, 0, nil, err)
		return
	}
	now := time.Now()
	ap := applicant{Name: form.name, HasPhoto: form.photoKey != "", CreatedAt: now.UTC().Format(time.RFC3339)}
	err = a.data.tx(ctx, func(f *sqlscope.Filter) error {
		return f.InsertReturning(ctx, "applicants", []string{"name", "photo_key", "photo_name", "created_at"},
			[]any{form.name, form.photoKey, form.photoName, now.UnixMilli()}, "id").Scan(&ap.ID)
	})
	if err != nil {
		form.discard(ctx, b)
		a.respond(w, r, 0, nil, err)
		return
	}
	a.changed(ctx)
	writeJSON(w, http.StatusCreated, ap)
}

// applicantForm is a parsed applicant creation: its name and, if one was
// sent, the photo already stored in the tenant's bucket.
type applicantForm struct {
	name, photoKey, photoName string
}

// discard deletes the stored photo of a form that will not be saved, so
// that no object is left without its row.
func (f applicantForm) discard(ctx context.Context, b *blobstore.Bucket) {
	if f.photoKey != "" {
		_ = b.Delete(ctx, f.photoKey)
	}
}

// formError is a failure reading a multipart field (field "" for the body
// itself), answered by uploadFailed: 413 for a size limit, else 400.
type formError struct {
	field string
	err   error
}

func (e *formError) Error() string { return e.field + ": " + e.err.Error() }
func (e *formError) Unwrap() error { return e.err }

// readApplicantForm reads an applicant creation, storing the photo in b
// as it streams by. It knows two fields, "name" (required, at most 200
// bytes, once) and "photo" (an optional PNG, JPEG, GIF or WebP file,
// once); any other field, a repeated one, a name sent as a file or a
// photo sent as a value is a badRequest naming it, like an unknown JSON
// field. On any error the photo it stored is deleted again.
func readApplicantForm(ctx context.Context, mr *multipart.Reader, b *blobstore.Bucket) (form applicantForm, err error) {
	defer func() {
		if err != nil {
			form.discard(ctx, b)
			form = applicantForm{}
		}
	}()
	seen := map[string]bool{}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return form, &formError{err: err}
		}
		field := part.FormName()
		if seen[field] {
			return form, badRequest{fmt.Sprintf("field %q is sent more than once", field)}
		}
		seen[field] = true
		switch field {
		case "name":
			if part.FileName() != "" {
				return form, badRequest{`field "name" must be a value, not a file`}
			}
			v, err := io.ReadAll(io.LimitReader(part, 201))
			if err != nil {
				return form, &formError{err: err} // the body broke off or ran over its limit
			}
			if len(v) > 200 {
				return form, badRequest{`field "name" must be at most 200 bytes`}
			}
			form.name = strings.TrimSpace(string(v))
		case "photo":
			if part.FileName() == "" {
				return form, badRequest{`field "photo" must be one image file`}
			}
			ct := part.Header.Get("Content-Type")
			if mt, _, err := mime.ParseMediaType(ct); err != nil || !imageTypes[mt] {
				return form, badRequest{`field "photo" must be a PNG, JPEG, GIF or WebP image`}
			}
			obj, err := b.Upload(ctx, "applicants", part.FileName(), part, ct)
			if err != nil {
				return form, &formError{field: "photo", err: err}
			}
			form.photoKey, form.photoName = obj.Key, obj.Name
		default:
			return form, badRequest{fmt.Sprintf("field %q is not allowed", field)}
		}
		part.Close()
	}
	if form.name == "" {
		return form, badRequest{`field "name" is required`}
	}
	return form, nil
}

func (a *app) listApplicants(w http.ResponseWriter, r *http.Request) {
	out, err := a.applicants(r.Context())
	a.respond(w, r, http.StatusOK, map[string]any{"results": out}, err)
}

// applicants lists the context tenant's applicants.
func (a *app) applicants(ctx context.Context) ([]applicant, error) {
	out := []applicant{}
	err := a.data.tx(ctx, func(f *sqlscope.Filter) error {
		rows, err := f.Query(ctx, `SELECT id, name, photo_key, created_at FROM applicants WHERE tenant_id = {tenant} ORDER BY id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var ap applicant
			var key string
			var created int64
			if err := rows.Scan(&ap.ID, &ap.Name, &key, &created); err != nil {
				return err
			}
			ap.HasPhoto = key != ""
			ap.CreatedAt = time.UnixMilli(created).UTC().Format(time.RFC3339)
			out = append(out, ap)
		}
		return rows.Err()
	})
	return out, err
}
