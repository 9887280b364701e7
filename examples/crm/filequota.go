package main

import (
	"github.com/tenantwall/tenantwall/blobstore"
	"github.com/tenantwall/tenantwall/blobstore/redisquota"
)

// fileLedger keeps the tenants' storage use in Redis when -redis is set,
// so that every instance sharing the document bucket counts against one
// quota; the embedded default keeps it in this process's memory. It uses
// the session client: the cache's client is fenced by the Guard, which
// refuses scripts. Tenant deletion deletes the tenant's keys (fileUse,
// lifecycle.go).
func (a *app) fileLedger() ([]blobstore.Option, error) {
	if a.redis == nil {
		return nil, nil
	}
	l, err := redisquota.New(a.redis)
	if err != nil {
		return nil, err
	}
	a.fileUse = l
	return []blobstore.Option{blobstore.WithLedger(l)}, nil
}
