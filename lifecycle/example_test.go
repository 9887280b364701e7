package lifecycle_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"

	"gocloud.dev/blob/memblob"
	_ "modernc.org/sqlite"

	"github.com/tenantwall/tenantwall/lifecycle"
	"github.com/tenantwall/tenantwall/tenant"
)

func Example() {
	ctx := context.Background()
	db, _ := sql.Open("sqlite", "file:example?mode=memory&cache=shared")
	defer db.Close()
	db.Exec(`CREATE TABLE leads (id INTEGER PRIMARY KEY, tenant_id text NOT NULL, name text NOT NULL)`)
	tenants := tenant.NewMemStore()
	acme := tenant.Tenant{ID: "8d1c0a6e-3f0b-4c52-9d55-0b5c2b1f7a10", Slug: "acme", Name: "Acme", Status: tenant.StatusActive}
	tenants.Create(ctx, acme)
	db.Exec(`INSERT INTO leads (tenant_id, name) VALUES (?, 'Ada'), (?, 'Grace')`, acme.ID, acme.ID)
	bucket := memblob.OpenBucket(nil)
	defer bucket.Close()
	bucket.WriteAll(ctx, "tenants/"+acme.ID+"/documents/contract.pdf", []byte("%PDF-1.7"), nil)

	// The platform's archive key (kept where operators keep secrets):
	// archives are signed, and Import trusts only signed ones.
	archiveKey := make([]byte, lifecycle.MinArchiveKeySize)
	rand.Read(archiveKey)

	m, err := lifecycle.New(tenants, db, lifecycle.SQLite, lifecycle.WithBucket(bucket, ""), lifecycle.WithArchiveKeys(archiveKey))
	if err != nil {
		panic(err)
	}
	if err := m.Migrate(ctx); err != nil {
		panic(err)
	}
	// Lifecycle work names a tenant by ID: it needs the platform scope.
	pctx, _ := tenant.WithPlatformScope(ctx, "customer asked to leave")

	var archive bytes.Buffer
	man, _ := m.Export(pctx, acme.ID, &archive)
	fmt.Println("exported:", man.Rows(), "rows,", man.Objects, "object")

	m.Schedule(pctx, acme.ID) // suspended at once
	rec, err := m.Delete(pctx, acme.ID, true)
	if err != nil {
		panic(err)
	}
	for _, r := range rec.Removed {
		fmt.Println("removed:", r.Store, r.Count)
	}
	fmt.Println("survivors:", len(rec.Verified.Findings))

	man, err = m.Import(pctx, bytes.NewReader(archive.Bytes()))
	fmt.Println("restored:", man.Rows(), "rows,", err)
	restored, _ := tenants.ByID(ctx, acme.ID)
	fmt.Println("status:", restored.Status) // as signed; without a key it would be suspended
	// Output:
	// exported: 2 rows, 1 object
	// removed: table leads 2
	// removed: blobs 1
	// removed: domains 0
	// removed: tenant 1
	// survivors: 0
	// restored: 2 rows, <nil>
	// status: active
}
