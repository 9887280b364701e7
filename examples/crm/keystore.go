package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tenantwall/tenantwall/credentials"
	credstore "github.com/tenantwall/tenantwall/credentials/sqlstore"
	"github.com/tenantwall/tenantwall/sqlscope"
)

// openKeyStore opens the store of the tenants' data keys
// (credentials.WithDataKeys), apart from the application database so that
// a backup of that database cannot reopen a deleted tenant's credentials:
// the PostgreSQL database at CRM_KEYS_URL, which must not be the
// application database, or else the SQLite file keys/credential-keys.db in
// the data directory. Keys an earlier version kept in the application
// database are moved into it and their table dropped.
func (a *app) openKeyStore(ctx context.Context) (credentials.DataKeyStore, error) {
	var db *sql.DB
	var d credstore.Dialect
	var err error
	if u := os.Getenv("CRM_KEYS_URL"); u != "" {
		if !isPostgresURL(u) {
			return nil, fmt.Errorf("CRM_KEYS_URL: want a postgres:// URL")
		}
		if db, err = sql.Open("pgx", u); err != nil {
			return nil, fmt.Errorf("CRM_KEYS_URL: %w", err)
		}
		a.closers = append(a.closers, db.Close)
		db.SetMaxOpenConns(4)
		d = credstore.Postgres
		if err := a.refuseSameDatabase(ctx, db); err != nil {
			return nil, err
		}
	} else {
		dir := filepath.Join(a.cfg.dataDir, "keys")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		path := filepath.Join(dir, "credential-keys.db")
		// secure_delete overwrites a destroyed key's bytes in the file;
		// the default rollback journal, not WAL, keeps no old copy once
		// the delete commits.
		if db, err = sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)&_pragma=secure_delete(on)"); err != nil {
			return nil, err
		}
		a.closers = append(a.closers, db.Close)
		d = credstore.SQLite
		if a.data.dialect == sqlscope.Postgres {
			a.log.Warn("tenant data keys are in a local file (CRM_KEYS_URL is not set): run one instance only, and keep the file out of the database's backups",
				"path", path)
		}
	}
	ks, err := credstore.NewKeyStore(db, d)
	if err != nil {
		return nil, err
	}
	if err := ks.Migrate(ctx); err != nil {
		return nil, fmt.Errorf("key store: %w", err)
	}
	dataDialect := credstore.SQLite
	if a.data.dialect == sqlscope.Postgres {
		dataDialect = credstore.Postgres
	}
	n, err := ks.MoveKeys(ctx, a.data.admin, dataDialect)
	if err != nil {
		return nil, fmt.Errorf("key store: %w", err)
	}
	if n > 0 {
		a.log.Warn("moved tenant data keys out of the application database; backups of it taken before now still hold them: expire them",
			"keys", n)
	}
	return ks, nil
}

// refuseSameDatabase refuses a CRM_KEYS_URL naming the application
// database: its backups would hold the keys, and deleting a tenant would
// not shred the credentials in them.
func (a *app) refuseSameDatabase(ctx context.Context, keys *sql.DB) error {
	if a.data.dialect != sqlscope.Postgres {
		return nil
	}
	// The cluster's system identifier and the database name: the same
	// whichever address, socket or pooler the two URLs reach it by (the
	// server's address and port differ between TCP and a Unix socket).
	const q = `SELECT current_database() || '@' || (SELECT system_identifier FROM pg_control_system())::text`
	var k, dt string
	if err := keys.QueryRowContext(ctx, q).Scan(&k); err != nil {
		return fmt.Errorf("CRM_KEYS_URL: %w", err)
	}
	if err := a.data.admin.QueryRowContext(ctx, q).Scan(&dt); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	if k == dt {
		return fmt.Errorf("refusing to start: CRM_KEYS_URL names the application database (%s); give the data keys a database of their own, kept out of its backups", k)
	}
	return nil
}
