package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/tenant"
)

// formPart is one part of a hand-built multipart body.
type formPart struct {
	name, filename, ctype, body string
}

func postForm(t *testing.T, c *client, parts ...formPart) (int, map[string]any) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		disp := fmt.Sprintf(`form-data; name=%q`, p.name)
		if p.filename != "" {
			disp += fmt.Sprintf(`; filename=%q`, p.filename)
		}
		h.Set("Content-Disposition", disp)
		if p.ctype != "" {
			h.Set("Content-Type", p.ctype)
		}
		w, err := mw.CreatePart(h)
		require.NoError(t, err)
		_, _ = io.WriteString(w, p.body)
	}
	require.NoError(t, mw.Close())
	code, b, _ := c.do("POST", "/api/applicants/", &buf, mw.FormDataContentType())
	var out map[string]any
	require.NoError(t, json.Unmarshal(b, &out), "%s", b)
	return code, out
}

// storedObjects counts the objects of the bucket whose key contains sub.
func storedObjects(t *testing.T, s *server, sub string) int {
	t.Helper()
	n := 0
	it := s.app.bucket.List(nil)
	for {
		obj, err := it.Next(context.Background())
		if err == io.EOF {
			return n
		}
		require.NoError(t, err)
		if strings.Contains(obj.Key, sub) {
			n++
		}
	}
}

func TestApplicantFormIsReadByAllowList(t *testing.T) {
	s := newServer(t, "sqlite")
	acme := s.client(t, "acme.localhost").login("admin@acme.test")
	png := "\x89PNG\r\n\x1a\n" + strings.Repeat("\x00", 32)
	name := formPart{name: "name", body: "Jane"}
	photo := formPart{name: "photo", filename: "me.png", ctype: "image/png", body: png}
	tests := []struct {
		name    string
		parts   []formPart
		wantErr string
	}{
		{"a tenant_id field", []formPart{name, {name: "tenant_id", body: "0b4c1e9a-6f57-4a3e-8d8f-2f7c5a1d9e02"}, photo}, `field "tenant_id" is not allowed`},
		{"an unknown field after the photo", []formPart{name, photo, {name: "admin", body: "true"}}, `field "admin" is not allowed`},
		{"an unnamed field", []formPart{name, {name: "", body: "x"}}, `field "" is not allowed`},
		{"a repeated name", []formPart{name, {name: "name", body: "Mallory"}}, `field "name" is sent more than once`},
		{"a second photo", []formPart{name, photo, photo}, `field "photo" is sent more than once`},
		{"a name sent as a file", []formPart{{name: "name", filename: "n.txt", body: "Jane"}}, `field "name" must be a value`},
		{"a photo sent as a value", []formPart{name, {name: "photo", body: png}}, `field "photo" must be one image file`},
		{"a photo that is not an image", []formPart{name, {name: "photo", filename: "x.svg", ctype: "image/svg+xml", body: "<svg/>"}}, `must be a PNG, JPEG, GIF or WebP image`},
		{"a photo without a content type", []formPart{name, {name: "photo", filename: "x.png", body: png}}, `must be a PNG, JPEG, GIF or WebP image`},
		{"a name over 200 bytes", []formPart{{name: "name", body: strings.Repeat("n", 201)}, photo}, `field "name" must be at most 200 bytes`},
		{"a blank name", []formPart{{name: "name", body: "  "}, photo}, `field "name" is required`},
		{"no name", []formPart{photo}, `field "name" is required`},
		{"nothing", nil, `field "name" is required`},
	}
	for _, tc := range tests {
		t.Run(tc.name+" is refused with 400 and leaves no photo behind", func(t *testing.T) {
			before := storedObjects(t, s, "applicants")
			code, body := postForm(t, acme, tc.parts...)
			assert.Equal(t, http.StatusBadRequest, code, "%v", body)
			assert.Contains(t, body["error"], tc.wantErr)
			assert.Equal(t, before, storedObjects(t, s, "applicants"), "an orphan photo was left in the bucket")
		})
	}
	t.Run("a truncated body is refused with 400", func(t *testing.T) {
		body := "--b\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nJane"
		code, b, _ := acme.do("POST", "/api/applicants/", strings.NewReader(body), "multipart/form-data; boundary=b")
		assert.Equal(t, http.StatusBadRequest, code, "%s", b)
	})
	t.Run("a body that is not multipart is refused with 415", func(t *testing.T) {
		code, b, _ := acme.do("POST", "/api/applicants/", strings.NewReader(`{"name":"Jane"}`), "application/json")
		assert.Equal(t, http.StatusUnsupportedMediaType, code, "%s", b)
	})
	t.Run("no refused form created an applicant", func(t *testing.T) {
		_, list := acme.json("GET", "/api/applicants/", nil)
		assert.Empty(t, list["results"])
	})
	t.Run("a name and a photo, in either order, create one applicant", func(t *testing.T) {
		for _, parts := range [][]formPart{{name, photo}, {photo, name}} {
			code, body := postForm(t, acme, parts...)
			require.Equal(t, http.StatusCreated, code, "%v", body)
			assert.Equal(t, "Jane", body["name"])
			assert.Equal(t, true, body["has_photo"])
		}
		code, body := postForm(t, acme, name)
		require.Equal(t, http.StatusCreated, code, "%v", body)
		assert.Equal(t, false, body["has_photo"])
	})
}

// FuzzApplicantForm feeds readApplicantForm arbitrary multipart bodies:
// whatever it accepts has a name of 1–200 bytes, whatever it refuses is a
// client error, and no refused form leaves its photo in the bucket.
func FuzzApplicantForm(f *testing.F) {
	png := "\x89PNG\r\n\x1a\n\x00\x00"
	f.Add("--b\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nJane\r\n--b--\r\n")
	f.Add("--b\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n" + png +
		"\r\n--b\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nJane\r\n--b--\r\n")
	f.Add("--b\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n" + png +
		"\r\n--b\r\nContent-Disposition: form-data; name=\"tenant_id\"\r\n\r\nx\r\n--b--\r\n")
	f.Add("--b\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nJa")
	s := newServer(f, "sqlite")
	acme, err := s.app.tenants.BySlug(context.Background(), "acme")
	require.NoError(f, err)
	ctx := tenant.NewContext(context.Background(), acme)
	b, err := s.app.files.Bucket(ctx)
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, body string) {
		form, err := readApplicantForm(ctx, multipart.NewReader(strings.NewReader(body), "b"), b)
		if err == nil {
			assert.NotEmpty(t, form.name)
			assert.LessOrEqual(t, len(form.name), 200)
			form.discard(ctx, b) // keep the bucket as it was
		} else {
			var bad badRequest
			var fe *formError
			assert.True(t, errors.As(err, &bad) || errors.As(err, &fe), "%T %v", err, err)
			assert.Empty(t, form.photoKey)
		}
		assert.Zero(t, storedObjects(t, s, "applicants"), "a photo was left in the bucket")
	})
}
