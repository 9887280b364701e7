package main

import (
	"strings"
	"sync"

	"github.com/tenantwall/tenantwall/sqlscope"
)

// maxQueryTexts bounds the rebound statement texts kept by data.q; when
// it is reached the cache is emptied and refills with the texts in use.
const maxQueryTexts = 512

// queryTexts keeps the statement texts the handlers send on every
// request, built once instead of per request: data.q's rebinding for
// PostgreSQL, and each resource's SELECT list. The texts are program
// constants and resource definitions, never request data.
var queryTexts struct {
	mu      sync.RWMutex
	rebound map[string]string // PostgreSQL's
	selects sync.Map          // *resource → string
}

// rebind is sqlscope.Rebind(d, query), kept for the next call.
func rebind(d sqlscope.Dialect, query string) string {
	if d != sqlscope.Postgres {
		return query // Rebind leaves the other dialects' texts as they are
	}
	c := &queryTexts
	c.mu.RLock()
	q, ok := c.rebound[query]
	c.mu.RUnlock()
	if ok {
		return q
	}
	q = sqlscope.Rebind(d, query)
	c.mu.Lock()
	if c.rebound == nil || len(c.rebound) >= maxQueryTexts {
		c.rebound = map[string]string{}
	}
	c.rebound[query] = q
	c.mu.Unlock()
	return q
}

// selectSQL is the resource's SELECT list: its id, fields and created_at
// from its table.
func (rs *resource) selectSQL() string {
	if q, ok := queryTexts.selects.Load(rs); ok {
		return q.(string)
	}
	q := `SELECT id, ` + strings.Join(rs.columns(), ", ") + `, created_at FROM ` + rs.table
	queryTexts.selects.Store(rs, q)
	return q
}
