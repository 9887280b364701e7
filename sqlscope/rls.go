package sqlscope

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/tenantwall/tenantwall/tenant"
)

// DefaultSetting is the PostgreSQL run-time parameter that carries the
// tenant ID inside a scoped transaction.
const DefaultSetting = "tenantwall.tenant_id"

// RLS runs transactions scoped to the context tenant on a PostgreSQL
// database whose tenant tables are protected by row level security (see
// EnableRLS). It works with any database/sql PostgreSQL driver. It is safe
// for concurrent use; it does not own or close the *sql.DB handles.
type RLS struct {
	db       *sql.DB
	platform *sql.DB
	setting  string
	auditor  tenant.Auditor
}

// Option configures NewRLS.
type Option func(*options) error

type options struct {
	setting  string
	auditor  tenant.Auditor
	platform *sql.DB
	// privileged is WithPrivilegedRole's reason; empty means check.
	privileged string
}

func buildOptions(opts []Option) (options, error) {
	o := options{setting: DefaultSetting, auditor: tenant.DefaultAuditor}
	for _, f := range opts {
		if err := f(&o); err != nil {
			return o, err
		}
	}
	return o, nil
}

// WithSetting sets the run-time parameter that carries the tenant ID
// (default DefaultSetting). It must match the one the policies read.
func WithSetting(name string) Option {
	return func(o *options) error {
		if err := checkSetting(name); err != nil {
			return err
		}
		o.setting = name
		return nil
	}
}

// WithAuditor sets where platform-wide access is reported (default
// tenant.DefaultAuditor).
func WithAuditor(a tenant.Auditor) Option {
	return func(o *options) error { o.auditor = tenant.OrDefault(a); return nil }
}

// WithPlatformDB gives RLS a second handle, connected as a role that may
// bypass row level security (the table owner or a BYPASSRLS role), for
// PlatformTx. The application's own handle must never be such a role.
func WithPlatformDB(db *sql.DB) Option {
	return func(o *options) error { o.platform = db; return nil }
}

// NewRLS returns an RLS over db, which must be connected as the
// application role. It checks that role on db before returning, because
// row level security does not bind a role that is superuser, BYPASSRLS
// or CREATEROLE (which can grant itself any other role), or owns a tenant
// table (a table with a tenant_id column),
// or is a member — directly or through other roles, INHERIT or not,
// since it can SET ROLE — of a role that is or does, or reaches the
// server's files or programs (membership in a predefined role other than
// the reviewed harmless ones, such as pg_execute_server_program, or
// EXECUTE on a superuser-only function such as pg_read_binary_file beyond
// the grants PostgreSQL installs), which read every tenant's rows from the
// table files: through such a handle every tenant sees every tenant's rows. It refuses such a role
// with ErrPrivilegedRole, naming each problem and how to fix it. The
// roles checked are every role db's connection acts as: current_user,
// session_user and the role that logged in.
//
// The check covers the tenant tables that exist when NewRLS runs: create
// them (migrate) first. Audit checks this and the rest of the set-up at
// any time. Tools that must run as a privileged role pass
// WithPrivilegedRole. ctx bounds the check.
func NewRLS(ctx context.Context, db *sql.DB, opts ...Option) (*RLS, error) {
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	if db == nil {
		return nil, fmt.Errorf("%w: NewRLS: db is nil, so there is no role to check", ErrPrivilegedRole)
	}
	if o.privileged != "" {
		o.auditor.Audit(ctx, tenant.Event{Kind: tenant.EventPlatformAccess, Package: "sqlscope",
			Resource: "RLS on a role not checked for privileges (WithPrivilegedRole): " + o.privileged})
	} else if err := checkRole(ctx, db); err != nil {
		return nil, err
	}
	return &RLS{db: db, platform: o.platform, setting: o.setting, auditor: o.auditor}, nil
}

// Tx runs fn in a transaction in which the setting holds the context
// tenant's ID, set with set_config(setting, id, true): transaction-local
// and a bound parameter, so it cannot outlive the transaction on a pooled
// connection, nor be injected. Without a tenant in ctx it returns
// tenant.ErrNoTenant before any SQL is sent.
//
// fn's error (or panic) rolls the transaction back; otherwise it is
// committed. fn must not commit or roll back tx itself. If it does (a
// COMMIT, ROLLBACK or END sent as text, even followed by a BEGIN), the
// setting ends with that transaction: whatever fn sends afterwards runs
// without a tenant, so it fails on tenant tables and never sees a tenant's
// rows, and the connection goes back to the pool with no tenant.
// database/sql does not expose the transaction status, so Tx cannot report
// it (pgxscope.Scope.Tx does, with pgxscope.ErrTransactionEnded).
func (r *RLS) Tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return r.TxOptions(ctx, nil, fn)
}

// TxOptions is Tx with transaction options (isolation level, read-only).
func (r *RLS) TxOptions(ctx context.Context, opts *sql.TxOptions, fn func(tx *sql.Tx) error) error {
	id, err := tenant.IDFromContext(ctx)
	if err != nil {
		return err
	}
	return runTx(ctx, r.db, opts, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `SELECT set_config($1, $2, true)`, r.setting, id); err != nil {
			return fmt.Errorf("sqlscope: set tenant: %w", err)
		}
		return fn(tx)
	})
}

// Setting is the run-time parameter r's transactions set to the tenant ID
// (WithSetting; default DefaultSetting): what AuditOptions.Setting names
// to audit the policies r's transactions rely on.
func (r *RLS) Setting() string { return r.setting }

// PlatformTx runs fn in a transaction on the platform handle, which sees
// every tenant's rows. It is the explicit opt-out from tenant scoping: ctx
// must carry tenant.WithPlatformScope's reason, which is reported to the
// auditor, and RLS must have been given WithPlatformDB.
func (r *RLS) PlatformTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if r.platform == nil {
		return ErrNoPlatformDB
	}
	if _, err := tenant.RequirePlatformScope(ctx, r.auditor, tenant.Event{Package: "sqlscope", Resource: "platform transaction"}); err != nil {
		return err
	}
	return runTx(ctx, r.platform, nil, fn)
}

// runTx runs fn in a transaction, rolling back on error or panic.
func runTx(ctx context.Context, db *sql.DB, opts *sql.TxOptions, fn func(*sql.Tx) error) (err error) {
	tx, err := db.BeginTx(ctx, opts)
	if err != nil {
		return err
	}
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback()
			panic(p)
		}
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if err = fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}
