package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/sqlscope"
)

// statementCounter is a pgx tracer that counts the statements a
// connection sends, by their first word.
type statementCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *statementCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	word, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(d.SQL)), " ")
	c.mu.Lock()
	c.n[word]++
	c.mu.Unlock()
	return ctx
}

func (c *statementCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (c *statementCounter) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}

func (c *statementCounter) TraceBatchQuery(ctx context.Context, conn *pgx.Conn, d pgx.TraceBatchQueryData) {
	c.TraceQueryStart(ctx, conn, pgx.TraceQueryStartData{SQL: d.SQL})
}

func (c *statementCounter) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// writeCounter counts the writes on a connection: one per round trip.
type writeCounter struct {
	net.Conn
	n *atomic.Int64
}

func (c writeCounter) Write(b []byte) (int, error) { c.n.Add(1); return c.Conn.Write(b) }

func (c *statementCounter) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.n
	c.n = map[string]int{}
	return n
}

// TestOneTransactionPerRequest counts, with a tracer on the application
// role's connections, what a bearer-token request sends in PostgreSQL
// mode: the user lookup and the handler's query share one BEGIN, one
// set_config and one COMMIT.
func TestOneTransactionPerRequest(t *testing.T) {
	s := newServer(t, "postgres")
	ctx := context.Background()
	cfg, err := pgx.ParseConfig(s.app.cfg.db)
	require.NoError(t, err)
	counter := &statementCounter{n: map[string]int{}}
	cfg.Tracer = counter
	var writes atomic.Int64
	dialer := &net.Dialer{}
	cfg.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dialer.DialContext(ctx, network, addr)
		return writeCounter{Conn: c, n: &writes}, err
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(1) // one connection: its statements get prepared once, below
	t.Cleanup(func() { db.Close() })
	traced, err := newData(ctx, db, s.app.data.admin, sqlscope.Postgres)
	require.NoError(t, err)
	a := *s.app
	a.data = traced
	ts := httptest.NewServer(a.routes())
	t.Cleanup(ts.Close)
	c := (&server{Server: ts, app: &a}).client(t, "acme.localhost")
	code, pair := c.json("POST", "/api/auth/token/", map[string]string{"email": "admin@acme.test", "password": "demo"})
	require.Equal(t, http.StatusOK, code)
	c.token = pair["access"].(string)
	code, lead := c.json("POST", "/api/leads/", map[string]any{"name": "counted"})
	require.Equal(t, http.StatusCreated, code)
	id := fmt.Sprint(int64(lead["id"].(float64)))
	counter.take()
	writes.Store(0)

	const n = 5
	for _, path := range []string{"/api/leads/", "/api/leads/" + id + "/"} {
		t.Run("GET "+path+" sends one BEGIN and one COMMIT", func(t *testing.T) {
			c.json("GET", path, nil) // prepares its statements
			counter.take()
			writes.Store(0)
			for range n {
				code, _ := c.json("GET", path, nil)
				require.Equal(t, http.StatusOK, code)
			}
			got := counter.take()
			assert.Equal(t, map[string]int{"begin": n, "select": 3 * n, "commit": n}, got,
				"per request: BEGIN, set_config, the user lookup, the handler's query, COMMIT")
			assert.Equal(t, int64(4*n), writes.Swap(0), "per request: BEGIN+set_config, the lookup, the query, COMMIT")
		})
	}
	t.Run("a write is one transaction too", func(t *testing.T) {
		code, _ := c.json("PATCH", "/api/leads/"+id+"/", map[string]any{"status": "won"})
		require.Equal(t, http.StatusOK, code)
		got := counter.take()
		assert.Equal(t, map[string]int{"begin": 1, "select": 3, "update": 1, "commit": 1}, got,
			"BEGIN, set_config, the user lookup, the UPDATE, the read back, COMMIT")
	})
	t.Run("a missing lead rolls back and answers 404", func(t *testing.T) {
		code, _ := c.json("GET", "/api/leads/999999/", nil)
		assert.Equal(t, http.StatusNotFound, code)
		got := counter.take()
		assert.Equal(t, map[string]int{"begin": 1, "select": 3, "rollback": 1}, got)
	})
}
