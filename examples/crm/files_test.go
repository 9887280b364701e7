package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// marker returns bytes that appear nowhere but in the upload they mark.
func marker(t *testing.T) string {
	t.Helper()
	var b [16]byte
	_, err := rand.Read(b[:])
	require.NoError(t, err)
	return "tenantwall-marker-" + hex.EncodeToString(b[:])
}

// filesHolding walks dir and returns the files whose content contains s.
func filesHolding(t *testing.T, dir, s string) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) || os.IsPermission(err) {
				return nil
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err == nil && bytes.Contains(b, []byte(s)) {
			found = append(found, path)
		}
		return nil
	})
	require.NoError(t, err)
	return found
}

// regularFiles lists every regular file under dir.
func regularFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	require.NoError(t, filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			out = append(out, path)
		}
		return err
	}))
	return out
}

func TestDefaultPathsAreAbsoluteAndUnderData(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, data := range []string{"crm-data", "./crm-data", "a/../crm-data", "with space/crm data", "odd%2e%2e/x"} {
		t.Run("-data "+data+" gives absolute defaults under it", func(t *testing.T) {
			cfg, _, err := parseFlags("crm", []string{"-data", data}, io.Discard)
			require.NoError(t, err)
			abs, err := filepath.Abs(data)
			require.NoError(t, err)
			assert.Equal(t, abs, cfg.dataDir)
			assert.Equal(t, filepath.Join(abs, "crm.db"), cfg.db)
			u, err := url.Parse(cfg.blob)
			require.NoError(t, err)
			assert.Equal(t, "file", u.Scheme)
			assert.Empty(t, u.Host, "a relative path must never be read as the URL's host")
			assert.Equal(t, filepath.Join(abs, "files"), u.Path)
			assert.NotEmpty(t, u.Query().Get("no_tmp_dir"), "uploads are staged inside the bucket, not in os.TempDir")
			assert.NotEmpty(t, u.Query().Get("create_dir"))
		})
	}
	t.Run("a SQLite path the driver would cut is refused", func(t *testing.T) {
		for _, args := range [][]string{{"-data", "a?b"}, {"-data", "a#b"}, {"-db", "x.db?mode=memory"}, {"-data", ""}} {
			_, _, err := parseFlags("crm", args, io.Discard)
			assert.Error(t, err, "%q", args)
		}
	})
}

func TestEveryStoredByteIsUnderData(t *testing.T) {
	work := t.TempDir()
	t.Chdir(work)
	// Anything staged in os.TempDir would land here.
	tmp := filepath.Join(work, "tmp")
	require.NoError(t, os.Mkdir(tmp, 0o700))
	t.Setenv("TMPDIR", tmp)

	type run struct {
		data, doc, photo, lead string
	}
	var runs []run
	// Relative -data, as a user types it; two servers, two directories.
	for _, data := range []string{"crm-data", filepath.Join(work, "second", "crm-data")} {
		s := newServer(t, "sqlite", "-data", data)
		acme := s.client(t, "acme.localhost").login("admin@acme.test")
		abs, err := filepath.Abs(data)
		require.NoError(t, err)
		r := run{data: abs, doc: marker(t), photo: marker(t), lead: marker(t)}
		code, doc := upload(t, acme, "/api/documents/", "file", "plan.pdf", "application/pdf", "%PDF-1.4 "+r.doc, nil)
		require.Equal(t, http.StatusCreated, code, "%v", doc)
		png := "\x89PNG\r\n\x1a\n" + r.photo
		code, ap := upload(t, acme, "/api/applicants/", "photo", "me.png", "image/png", png, map[string]string{"name": "Jane"})
		require.Equal(t, http.StatusCreated, code, "%v", ap)
		code, lead := acme.json("POST", "/api/leads/", map[string]string{"name": r.lead})
		require.Equal(t, http.StatusCreated, code, "%v", lead)
		runs = append(runs, r)
		// Close the database so its WAL is checkpointed into the file.
		s.Close()
		s.app.close()
	}

	for i, r := range runs {
		other := runs[1-i]
		t.Run(fmt.Sprintf("server %d stored its upload, photo and rows under its own -data", i+1), func(t *testing.T) {
			for what, m := range map[string]string{"document": r.doc, "photo": r.photo, "lead": r.lead} {
				in := filesHolding(t, r.data, m)
				assert.NotEmpty(t, in, "%s not found under %s", what, r.data)
				assert.Empty(t, filesHolding(t, other.data, m), "%s of server %d is under the other server's -data", what, i+1)
				assert.Empty(t, filesHolding(t, tmp, m), "%s was staged in os.TempDir", what)
				assert.Empty(t, filesHolding(t, "/files", m), "%s landed in /files", what)
			}
			for _, f := range []string{"crm.db", "secrets.key"} {
				assert.FileExists(t, filepath.Join(r.data, f))
			}
		})
	}
	t.Run("the two servers share no file", func(t *testing.T) {
		a, b := regularFiles(t, runs[0].data), regularFiles(t, runs[1].data)
		require.NotEmpty(t, a)
		require.NotEmpty(t, b)
		for _, fa := range a {
			ia, err := os.Stat(fa)
			require.NoError(t, err)
			for _, fb := range b {
				ib, err := os.Stat(fb)
				require.NoError(t, err)
				assert.False(t, os.SameFile(ia, ib), "%s and %s are one file", fa, fb)
			}
		}
	})
	entries, err := os.ReadDir(tmp)
	require.NoError(t, err)
	assert.Empty(t, entries, "nothing is left in os.TempDir")
}

// bigUpload posts a multipart body with one file part of n bytes (and an
// optional name field) without holding it twice in memory.
func bigUpload(t *testing.T, c *client, path, field, ctype string, n int, extra map[string]string) (int, map[string]any) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range extra {
		require.NoError(t, mw.WriteField(k, v))
	}
	h := map[string][]string{
		"Content-Disposition": {mime.FormatMediaType("form-data", map[string]string{"name": field, "filename": "big.bin"})},
		"Content-Type":        {ctype},
	}
	w, err := mw.CreatePart(h)
	require.NoError(t, err)
	_, err = io.Copy(w, io.LimitReader(zeros{}, int64(n)))
	require.NoError(t, err)
	require.NoError(t, mw.Close())
	code, b, hdr := c.do("POST", path, &buf, mw.FormDataContentType())
	assert.Equal(t, "application/json", hdr.Get("Content-Type"))
	var out map[string]any
	require.NoError(t, json.Unmarshal(b, &out), "%s", b)
	return code, out
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestUploadOverTheLimitIs413(t *testing.T) {
	s := newServer(t, "sqlite")
	acme := s.client(t, "acme.localhost").login("admin@acme.test")
	cases := []struct {
		name, path, field, ctype string
		size                     int
		extra                    map[string]string
	}{
		{"a document one byte over the limit", "/api/documents/", "file", "application/pdf", maxUpload + 1, nil},
		{"a document far over the body limit", "/api/documents/", "file", "application/pdf", maxUploadBody + 1<<20, nil},
		{"an applicant photo over the limit", "/api/applicants/", "photo", "image/png", maxUpload + 1, map[string]string{"name": "Jane"}},
		{"a skipped field over the body limit", "/api/documents/", "skipped", "application/pdf", maxUploadBody + 1, nil},
	}
	for _, c := range cases {
		t.Run(c.name+" answers 413 with a JSON error and stores nothing", func(t *testing.T) {
			before := regularFiles(t, filepath.Join(s.app.cfg.dataDir, "files"))
			code, body := bigUpload(t, acme, c.path, c.field, c.ctype, c.size, c.extra)
			assert.Equal(t, http.StatusRequestEntityTooLarge, code, "%v", body)
			assert.Contains(t, body["error"], "too large")
			assert.Equal(t, before, regularFiles(t, filepath.Join(s.app.cfg.dataDir, "files")), "nothing was stored")
		})
	}
	t.Run("a document at the limit is accepted", func(t *testing.T) {
		code, body := bigUpload(t, acme, "/api/documents/", "file", "application/pdf", maxUpload, nil)
		assert.Equal(t, http.StatusCreated, code, "%v", body)
	})
}

func TestDotFileNamesAreNeverDisplayNames(t *testing.T) {
	s := newServer(t, "sqlite")
	acme := s.client(t, "acme.localhost").login("admin@acme.test")
	for _, name := range []string{".", "..", "...", "../..", "./", "/", " . ", " .. ", "\u2024\u2024", "\uff0e\uff0e", "\u3002", `..\..`} {
		t.Run(fmt.Sprintf("a document named %q is listed and downloaded as file", name), func(t *testing.T) {
			code, doc := upload(t, acme, "/api/documents/", "file", name, "text/plain", "x", nil)
			require.Equal(t, http.StatusCreated, code, "%v", doc)
			assert.Equal(t, "file", doc["name"])
			code, _, hdr := acme.do("GET", fmt.Sprintf("/api/documents/%v/download/", doc["id"]), nil, "")
			require.Equal(t, http.StatusOK, code)
			_, params, err := mime.ParseMediaType(hdr.Get("Content-Disposition"))
			require.NoError(t, err)
			assert.Equal(t, "file", params["filename"])
			code, list := acme.json("GET", "/api/documents/", nil)
			require.Equal(t, http.StatusOK, code)
			for _, d := range list["results"].([]any) {
				n := d.(map[string]any)["name"].(string)
				assert.NotEqual(t, "", strings.Trim(n, ". \u2024\uff0e\u3002"), "listed name %q", n)
			}
		})
	}
	t.Run("an applicant photo named .. is kept as file", func(t *testing.T) {
		png := "\x89PNG\r\n\x1a\n"
		code, ap := upload(t, acme, "/api/applicants/", "photo", "..", "image/png", png, map[string]string{"name": "Dot"})
		require.Equal(t, http.StatusCreated, code, "%v", ap)
		_, _, hdr := acme.do("GET", fmt.Sprintf("/api/applicants/%v/photo/", ap["id"]), nil, "")
		_, params, err := mime.ParseMediaType(hdr.Get("Content-Disposition"))
		require.NoError(t, err)
		assert.Equal(t, "file", params["filename"])
	})
}
