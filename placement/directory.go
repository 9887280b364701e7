package placement

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/tenantwall/tenantwall/sqlscope"
	"github.com/tenantwall/tenantwall/tenant"
)

// Directory says which placement (database, and so pool) holds each
// tenant's rows: a setting of the tenant, kept beside its record.
type Directory interface {
	// Placement returns the name of tenant id's placement, or an error
	// wrapping ErrNotPlaced.
	Placement(ctx context.Context, id string) (string, error)
	// Place records that tenant id's rows live in placement name.
	Place(ctx context.Context, id, name string) error
}

// DirectoryTable is the table SQLDirectory keeps placements in.
const DirectoryTable = "tenantwall_placements"

// DirectorySQL is the statement that creates DirectoryTable; run it in
// the catalog database (where the tenants are), as its owner. The tenant
// column is owner_id, not tenant_id, as in sqlscope/sqlstore's tables:
// the table is the platform's, not tenant data, and a tenant_id column
// would make it a tenant table to sqlscope.Audit and to Router.Move,
// which would refuse to move tenants out of the catalog database.
const DirectorySQL = `CREATE TABLE IF NOT EXISTS ` + DirectoryTable + ` (
	owner_id text PRIMARY KEY CHECK (owner_id <> ''),
	placement text NOT NULL CHECK (placement <> '')
)`

// SQLDirectory is a Directory in a PostgreSQL table (DirectorySQL). It is
// safe for concurrent use and does not close db.
type SQLDirectory struct{ db *sql.DB }

// NewSQLDirectory returns a SQLDirectory on db, the catalog database,
// after checking that DirectoryTable can be read there.
func NewSQLDirectory(ctx context.Context, db *sql.DB) (*SQLDirectory, error) {
	if db == nil {
		return nil, errors.New("placement: NewSQLDirectory: db is nil")
	}
	if _, err := db.ExecContext(ctx, `SELECT owner_id, placement FROM `+DirectoryTable+` LIMIT 0`); err != nil {
		return nil, fmt.Errorf("placement: directory table %s (create it with DirectorySQL; one made by an earlier version "+
			"names its tenant column tenant_id: ALTER TABLE %s RENAME COLUMN tenant_id TO owner_id): %w", DirectoryTable, DirectoryTable, err)
	}
	return &SQLDirectory{db: db}, nil
}

// Placement reads tenant id's placement.
func (d *SQLDirectory) Placement(ctx context.Context, id string) (string, error) {
	var name string
	err := d.db.QueryRowContext(ctx, `SELECT placement FROM `+DirectoryTable+` WHERE owner_id = $1`, id).Scan(&name)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("%w: tenant %s", ErrNotPlaced, id)
	}
	if err != nil {
		return "", fmt.Errorf("placement: read tenant %s's placement: %w", id, err)
	}
	return name, nil
}

// Place records tenant id's placement, replacing any previous one. Use
// it when a tenant is created; Router.Move calls it when one is moved.
func (d *SQLDirectory) Place(ctx context.Context, id, name string) error {
	if err := tenant.ValidateID(id); err != nil {
		return err
	}
	if _, err := sqlscope.QuoteIdent(name); err != nil {
		return fmt.Errorf("placement: placement name %q: %w", name, err)
	}
	_, err := d.db.ExecContext(ctx, `INSERT INTO `+DirectoryTable+` (owner_id, placement) VALUES ($1, $2)
ON CONFLICT (owner_id) DO UPDATE SET placement = EXCLUDED.placement`, id, name)
	if err != nil {
		return fmt.Errorf("placement: place tenant %s: %w", id, err)
	}
	return nil
}
