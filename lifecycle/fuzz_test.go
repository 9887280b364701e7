package lifecycle_test

import (
	"archive/tar"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gocloud.dev/blob/memblob"

	"github.com/tenantwall/tenantwall/lifecycle"
	"github.com/tenantwall/tenantwall/tenant"
)

// FuzzVerifyArchive feeds Import's verifying pass arbitrary bytes, seeded
// with a real archive: it must never panic, and whatever it accepts must
// name a valid tenant and only entries the manifest lists.
func FuzzVerifyArchive(f *testing.F) {
	ctx := context.Background()
	db, err := sql.Open("sqlite", "file:fuzz?mode=memory&cache=shared")
	require.NoError(f, err)
	f.Cleanup(func() { db.Close() })
	_, err = db.Exec(`CREATE TABLE IF NOT EXISTS leads (id INTEGER PRIMARY KEY, tenant_id text NOT NULL, name text)`)
	require.NoError(f, err)
	tenants := tenant.NewMemStore()
	// The same in every fuzzing process, so that their exports are too.
	acme := tenant.Tenant{ID: "8d1c0a6e-3f0b-4c52-9d55-0b5c2b1f7a10", Slug: "acme", Name: "Acme", Status: tenant.StatusActive,
		CreatedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	require.NoError(f, tenants.Create(ctx, acme))
	_, err = db.Exec(`INSERT INTO leads (tenant_id, name) VALUES (?, 'a'), (?, 'b')`, acme.ID, acme.ID)
	require.NoError(f, err)
	bucket := memblob.OpenBucket(nil)
	f.Cleanup(func() { bucket.Close() })
	require.NoError(f, bucket.WriteAll(ctx, "tenants/"+acme.ID+"/documents/x.txt", []byte("hello"), nil))
	m, err := lifecycle.New(tenants, db, lifecycle.SQLite, lifecycle.WithBucket(bucket, ""))
	require.NoError(f, err)
	keyed, err := lifecycle.New(tenants, db, lifecycle.SQLite, lifecycle.WithBucket(bucket, ""), lifecycle.WithArchiveKeys(archiveKey))
	require.NoError(f, err)
	var buf, signed bytes.Buffer
	_, err = m.Export(platform, acme.ID, &buf)
	require.NoError(f, err)
	exported, err := keyed.Export(platform, acme.ID, &signed)
	require.NoError(f, err)
	f.Add(buf.Bytes())
	f.Add(buf.Bytes()[:512])
	f.Add(signed.Bytes())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		man, err := lifecycle.VerifyArchive(m, bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, lifecycle.ErrArchive) && !errors.Is(err, lifecycle.ErrSchema) && !errors.Is(err, tenant.ErrInvalidID) {
				t.Fatalf("unexpected error class: %v", err)
			}
		} else if tenant.ValidateID(man.TenantID) != nil {
			t.Fatalf("accepted an archive of tenant %q", man.TenantID)
		}
		// With a key, only the manifest that was signed passes.
		man, err = lifecycle.VerifyArchive(keyed, bytes.NewReader(data))
		if err == nil && !reflect.DeepEqual(jsonOf(t, man), jsonOf(t, exported)) {
			t.Fatalf("a Manager with an archive key accepted a manifest it did not sign: %+v", man)
		}
	})
}

// FuzzArchiveSignature puts arbitrary bytes in a signed archive's
// signature entry: a Manager with the key accepts the archive exactly
// when they are the signature it wrote, and never panics.
func FuzzArchiveSignature(f *testing.F) {
	ctx := context.Background()
	db, err := sql.Open("sqlite", "file:fuzzsig?mode=memory&cache=shared")
	require.NoError(f, err)
	f.Cleanup(func() { db.Close() })
	_, err = db.Exec(`CREATE TABLE IF NOT EXISTS leads (id INTEGER PRIMARY KEY, tenant_id text NOT NULL, name text)`)
	require.NoError(f, err)
	tenants := tenant.NewMemStore()
	// The same in every fuzzing process, so that their exports are too.
	acme := tenant.Tenant{ID: "8d1c0a6e-3f0b-4c52-9d55-0b5c2b1f7a10", Slug: "acme", Name: "Acme", Status: tenant.StatusActive,
		CreatedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	require.NoError(f, tenants.Create(ctx, acme))
	_, err = db.Exec(`INSERT INTO leads (tenant_id, name) VALUES (?, 'a')`, acme.ID)
	require.NoError(f, err)
	m, err := lifecycle.New(tenants, db, lifecycle.SQLite, lifecycle.WithArchiveKeys(archiveKey))
	require.NoError(f, err)
	var buf bytes.Buffer
	_, err = m.Export(platform, acme.ID, &buf)
	require.NoError(f, err)
	names, bodies := archiveEntries(f, buf.Bytes())
	sig := bodies["manifest.hmac"]
	require.Len(f, sig, 64)
	for _, seed := range [][]byte{sig, sig[:63], bytes.ToUpper(sig), append(bytes.Clone(sig), '\n'), {}, []byte(" " + string(sig[1:]))} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, candidate []byte) {
		bodies := maps.Clone(bodies)
		bodies["manifest.hmac"] = candidate
		var out bytes.Buffer
		tw := tar.NewWriter(&out)
		for _, name := range names {
			if err := tw.WriteHeader(&tar.Header{Name: name, Size: int64(len(bodies[name])), Mode: 0o600, Typeflag: tar.TypeReg}); err != nil {
				t.Fatal(err)
			}
			if _, err := tw.Write(bodies[name]); err != nil {
				t.Fatal(err)
			}
		}
		if err := tw.Close(); err != nil {
			t.Fatal(err)
		}
		_, err := lifecycle.VerifyArchive(m, &out)
		switch {
		case bytes.Equal(candidate, sig) && err != nil:
			t.Fatalf("the true signature was refused: %v", err)
		case !bytes.Equal(candidate, sig) && err == nil:
			t.Fatalf("signature %q accepted", candidate)
		case err != nil && !errors.Is(err, lifecycle.ErrSignature):
			t.Fatalf("a wrong signature is not ErrSignature: %v", err)
		}
	})
}

func jsonOf(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// archiveEntries reads an archive into its entry names, in order, and
// their bodies.
func archiveEntries(tb testing.TB, archive []byte) ([]string, map[string][]byte) {
	tb.Helper()
	var names []string
	bodies := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(archive))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names, bodies
		}
		require.NoError(tb, err)
		data, err := io.ReadAll(tr)
		require.NoError(tb, err)
		names = append(names, h.Name)
		bodies[h.Name] = data
	}
}
