package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/tenantwall/tenantwall/credentials"
	"github.com/tenantwall/tenantwall/tenant"
)

// DB is what a Store needs of a database handle: *sql.DB, *sql.Conn and
// *sql.Tx all satisfy it.
type DB interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// Store is a credentials.Store in the table tenantwall_credentials. It is
// safe for concurrent use when db is (a *sql.DB is; a *sql.Tx is not),
// and it does not close db.
type Store struct {
	db DB
	q  statements
}

var (
	_ credentials.Store         = (*Store)(nil)
	_ credentials.TenantDeleter = (*Store)(nil)
)

// New returns a Store over db for dialect Postgres or SQLite. Another
// dialect or a nil db is an error wrapping credentials.ErrConfig. Call
// Migrate once to create the table.
func New(db DB, d Dialect) (*Store, error) {
	q, ok := dialects[d]
	if !ok {
		return nil, fmt.Errorf("%w: sqlstore dialect %v is not supported (want sqlstore.Postgres or sqlstore.SQLite)", credentials.ErrConfig, d)
	}
	if db == nil {
		return nil, fmt.Errorf("%w: sqlstore needs a database handle", credentials.ErrConfig)
	}
	return &Store{db: db, q: q}, nil
}

// Migrate creates the table if it does not exist. The statement is the
// same on both dialects, and the same as the table earlier versions of
// credentials created, so existing rows stay readable.
func (s *Store) Migrate(ctx context.Context) error {
	// The tenant column is owner_id, not tenant_id: the table holds only
	// sealed ciphertext, read on the platform's handle, and must not be
	// mistaken by sqlscope.Audit for tenant data under row level security.
	_, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS tenantwall_credentials (
		owner_id text NOT NULL,
		provider text NOT NULL,
		version integer NOT NULL,
		ciphertext text NOT NULL,
		created_at bigint NOT NULL,
		PRIMARY KEY (owner_id, provider, version))`)
	if err != nil {
		return fmt.Errorf("credentials/sqlstore: migrate: %w", err)
	}
	// The data keys (credentials.WithDataKeys) are not kept here: they
	// go in a KeyStore on a database of its own.
	return nil
}

// Put implements credentials.Store. The duplicate check is the
// statement's own ON CONFLICT, so of two racing Puts of one version the
// engine lets exactly one in, whatever the driver's error codes.
func (s *Store) Put(ctx context.Context, r credentials.Row) error {
	if err := r.Validate(); err != nil {
		return err
	}
	res, err := s.db.ExecContext(ctx, s.q.put, r.TenantID, r.Provider, r.Version, string(r.Ciphertext), r.CreatedAt.UnixMilli())
	if err != nil {
		return fmt.Errorf("credentials/sqlstore: put %s v%d: %w", r.Provider, r.Version, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("credentials/sqlstore: put %s v%d: %w", r.Provider, r.Version, err)
	}
	if n == 0 {
		return fmt.Errorf("%w: %s v%d", credentials.ErrVersionExists, r.Provider, r.Version)
	}
	return nil
}

// Rows implements credentials.Store.
func (s *Store) Rows(ctx context.Context, tenantID, provider string) ([]credentials.Row, error) {
	if err := validateKey(tenantID, provider); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, s.q.rows, tenantID, provider)
	if err != nil {
		return nil, fmt.Errorf("credentials/sqlstore: rows %s: %w", provider, err)
	}
	defer rows.Close()
	var out []credentials.Row
	for rows.Next() {
		r := credentials.Row{TenantID: tenantID, Provider: provider}
		var ct string
		var created int64
		if err := rows.Scan(&r.Version, &ct, &created); err != nil {
			return nil, fmt.Errorf("credentials/sqlstore: rows %s: %w", provider, err)
		}
		r.Ciphertext, r.CreatedAt = []byte(ct), time.UnixMilli(created)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("credentials/sqlstore: rows %s: %w", provider, err)
	}
	return out, nil
}

// validateKey refuses what Rows cannot be asked for, with the same
// errors as every credentials.Store, before any query: PostgreSQL would
// otherwise answer a NUL byte with a driver error, SQLite with nothing.
func validateKey(tenantID, provider string) error {
	if err := tenant.ValidateID(tenantID); err != nil {
		return err
	}
	return credentials.ValidateProvider(provider)
}

// DeleteTenant implements credentials.TenantDeleter.
func (s *Store) DeleteTenant(ctx context.Context, tenantID string) (int64, error) {
	if err := tenant.ValidateID(tenantID); err != nil {
		return 0, err
	}
	res, err := s.db.ExecContext(ctx, s.q.deleteTenant, tenantID)
	if err != nil {
		return 0, fmt.Errorf("credentials/sqlstore: delete tenant: %w", err)
	}
	return res.RowsAffected()
}
