package cachekey

import (
	"context"
	"fmt"

	"github.com/tenantwall/tenantwall/tenant"
)

// Forget deletes the one key of a tenant that Purge leaves, its generation
// counter (<prefix>:gen:<id>), so that no key naming the tenant is left in
// Redis. Call it only for a tenant deleted for good, after Purge: a
// process that still read the tenant's generation afterwards would see it
// start again from zero and retire the epoch, which drops every tenant's
// cache once (harmless, but a burst of misses). A deleted tenant is never
// served, so no process reads it. On a memory Keyspace it drops the
// generation from memory. It is platform work: ctx must carry
// tenant.WithPlatformScope's reason, reported to the auditor. It reports
// whether there was a counter to delete.
func (k *Keyspace) Forget(ctx context.Context, id string) (bool, error) {
	if err := tenant.ValidateID(id); err != nil {
		return false, err
	}
	if _, err := tenant.RequirePlatformScope(ctx, k.auditor, tenant.Event{Package: "cachekey",
		OwnerID: id, Resource: "forget generation"}); err != nil {
		return false, err
	}
	k.gens.Load().forget(id)
	if k.client == nil {
		return false, nil
	}
	n, err := k.client.Del(internal(ctx), k.genKey(id)).Result()
	if err != nil {
		return false, fmt.Errorf("cachekey: forget tenant %s: %w", id, err)
	}
	return n > 0, nil
}
