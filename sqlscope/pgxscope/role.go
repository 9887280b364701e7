package pgxscope

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"weak"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantwall/tenantwall/sqlscope"
	"github.com/tenantwall/tenantwall/sqlscope/internal/privilege"
	"github.com/tenantwall/tenantwall/tenant"
)

// WithPrivilegedRole lets a Scope run on connections whose role escapes
// row level security (superuser, BYPASSRLS, CREATEROLE, owner of a tenant
// table, a member of such a role, or a role that reaches the server's
// files or programs), for tools that must. The Scope then does not
// check roles, and New reports reason to the auditor (an
// EventPlatformAccess). The reason is required.
func WithPrivilegedRole(reason string) Option {
	return func(s *options) error {
		if reason == "" {
			return fmt.Errorf("pgxscope: WithPrivilegedRole: %w", tenant.ErrNoReason)
		}
		s.privileged = reason
		return nil
	}
}

// WithAuditor sets where WithPrivilegedRole's reason and a Unit used under
// another tenant are reported (default
// tenant.DefaultAuditor).
func WithAuditor(a tenant.Auditor) Option {
	return func(s *options) error { s.auditor = tenant.OrDefault(a); return nil }
}

// checkedKey marks, in a connection's pgconn CustomData, that the roles it
// acts as were checked and found unprivileged. It lives as long as the
// connection, and a Scope with WithPrivilegedRole never sets it.
const checkedKey = "tenantwall.pgxscope.role_checked"

// roleCache remembers the pools whose role passed the check. Keys are weak
// pointers, so a closed pool is not kept alive and a new pool allocated at
// its address is checked afresh; a cleanup drops the entry.
type roleCache struct {
	pools sync.Map // weak.Pointer[pgxpool.Pool] → struct{}
}

// checkRole refuses db, before anything scoped is sent through it, when
// the role it connects as escapes row level security: once per pool, once
// per connection otherwise (*pgx.Conn, or anything whose Conn method
// returns one: pgx.Tx, *pgxpool.Conn). A Batcher of another type has
// nowhere to keep the result and is refused with ErrBatcher. Only a role
// that passed is remembered: a refused or failed check runs again.
func (s *Scope) checkRole(ctx context.Context, db Batcher) error {
	if s.privileged != "" {
		return nil
	}
	var conn *pgx.Conn
	switch d := db.(type) {
	case *pgxpool.Pool:
		key := weak.Make(d)
		if _, ok := s.roles.pools.Load(key); ok {
			return nil
		}
		if err := verifyRole(ctx, d); err != nil {
			return err
		}
		if _, loaded := s.roles.pools.LoadOrStore(key, struct{}{}); !loaded {
			runtime.AddCleanup(d, func(k weak.Pointer[pgxpool.Pool]) { s.roles.pools.Delete(k) }, key)
		}
		return nil
	case *pgx.Conn:
		conn = d
	case interface{ Conn() *pgx.Conn }:
		conn = d.Conn()
	default:
		// Nowhere to remember a pass: the privilege query would run on
		// every call. Refused like SendBatch refuses it, before anything
		// is sent.
		return fmt.Errorf("%w %T: its role cannot be checked once and remembered", ErrBatcher, db)
	}
	data := conn.PgConn().CustomData()
	if data[checkedKey] == true {
		return nil
	}
	if err := verifyRole(ctx, db); err != nil {
		return err
	}
	data[checkedKey] = true
	return nil
}

// verifyRole runs sqlscope's privilege query through db.
func verifyRole(ctx context.Context, db Batcher) error {
	b := &pgx.Batch{}
	b.Queue(privilege.SQL, []string{}, "")
	br := db.SendBatch(ctx, b)
	problems, err := readProblems(br)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("pgxscope: check the application role: %w", err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", sqlscope.ErrPrivilegedRole, privilege.Explain(problems, "pgxscope.WithPrivilegedRole(reason) to New"))
	}
	return nil
}

func readProblems(br pgx.BatchResults) ([]privilege.Problem, error) {
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return privilege.Read(rows)
}
