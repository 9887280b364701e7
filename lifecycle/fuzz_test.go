package lifecycle_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"testing"

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
	acme := tenant.Tenant{ID: tenant.NewID(), Slug: "acme", Name: "Acme", Status: tenant.StatusActive}
	require.NoError(f, tenants.Create(ctx, acme))
	_, err = db.Exec(`INSERT INTO leads (tenant_id, name) VALUES (?, 'a'), (?, 'b')`, acme.ID, acme.ID)
	require.NoError(f, err)
	bucket := memblob.OpenBucket(nil)
	f.Cleanup(func() { bucket.Close() })
	require.NoError(f, bucket.WriteAll(ctx, "tenants/"+acme.ID+"/documents/x.txt", []byte("hello"), nil))
	m, err := lifecycle.New(tenants, db, lifecycle.SQLite, lifecycle.WithBucket(bucket, ""))
	require.NoError(f, err)
	var buf bytes.Buffer
	_, err = m.Export(platform, acme.ID, &buf)
	require.NoError(f, err)
	f.Add(buf.Bytes())
	f.Add(buf.Bytes()[:512])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		man, err := lifecycle.VerifyArchive(m, bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, lifecycle.ErrArchive) && !errors.Is(err, lifecycle.ErrSchema) && !errors.Is(err, tenant.ErrInvalidID) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		if tenant.ValidateID(man.TenantID) != nil {
			t.Fatalf("accepted an archive of tenant %q", man.TenantID)
		}
	})
}
