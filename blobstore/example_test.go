package blobstore_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"gocloud.dev/blob/memblob"

	"github.com/tenantwall/tenantwall/blobstore"
	"github.com/tenantwall/tenantwall/tenant"
)

func Example() {
	store, _ := blobstore.New(memblob.OpenBucket(nil))
	acme := tenant.NewContext(context.Background(), tenant.Tenant{ID: "3f0c9a52-6a7e-4c4e-9a35-2d1f0e8b7c61", Slug: "acme"})
	globex := tenant.NewContext(context.Background(), tenant.Tenant{ID: "5e2d8c77-1b0a-4f6e-9c3d-7a8b9c0d1e02", Slug: "globex"})

	a, _ := store.Bucket(acme)
	obj, _ := a.Upload(acme, "documents", "../../Q3 report.pdf", strings.NewReader("%PDF-1.4"), "application/pdf")
	fmt.Println(strings.HasSuffix(obj.Key, "_Q3_report.pdf"), obj.Size)

	r, _ := a.Open(acme, obj.Key)
	body, _ := io.ReadAll(r)
	r.Close()
	fmt.Println(string(body))

	g, _ := store.Bucket(globex)
	_, err := g.Open(globex, obj.Key)
	fmt.Println(errors.Is(err, blobstore.ErrNotFound))
	_, err = g.Open(globex, "../"+obj.Key)
	fmt.Println(errors.Is(err, blobstore.ErrInvalidKey))
	// Output:
	// true 8
	// %PDF-1.4
	// true
	// true
}
