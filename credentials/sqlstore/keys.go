package sqlstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/tenantwall/tenantwall/credentials"
	"github.com/tenantwall/tenantwall/tenant"
)

// KeyStore is a credentials.DataKeyStore in the table
// tenantwall_credential_keys. Give it a database of its own, apart from
// the one holding the Store's sealed rows and apart from the data
// backups: crypto-shredding holds only against backups that do not also
// hold the key store (see the package documentation). It is safe for
// concurrent use when db is, and it does not close db.
type KeyStore struct {
	db DB
	d  Dialect
	q  statements
}

var _ credentials.DataKeyStore = (*KeyStore)(nil)

// NewKeyStore returns a KeyStore over db for dialect Postgres or SQLite.
// Another dialect or a nil db is an error wrapping credentials.ErrConfig.
// Call Migrate once to create the table.
func NewKeyStore(db DB, d Dialect) (*KeyStore, error) {
	q, ok := dialects[d]
	if !ok {
		return nil, fmt.Errorf("%w: sqlstore dialect %v is not supported (want sqlstore.Postgres or sqlstore.SQLite)", credentials.ErrConfig, d)
	}
	if db == nil {
		return nil, fmt.Errorf("%w: sqlstore needs a database handle", credentials.ErrConfig)
	}
	return &KeyStore{db: db, d: d, q: q}, nil
}

// Migrate creates the table if it does not exist.
func (k *KeyStore) Migrate(ctx context.Context) error {
	// Each tenant's data key, wrapped by the Vault's keeper, as base64.
	_, err := k.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS tenantwall_credential_keys (
		owner_id text PRIMARY KEY,
		wrapped text NOT NULL,
		created_at bigint NOT NULL)`)
	if err != nil {
		return fmt.Errorf("credentials/sqlstore: migrate keys: %w", err)
	}
	return nil
}

// MoveKeys moves the data keys that earlier versions of Store kept in
// the data database (table tenantwall_credential_keys on the handle data,
// of dialect d) into k, and then drops that table, so that backups of the
// data database taken from now on hold no data key. It returns how many
// keys it moved; with no such table it moves nothing and succeeds. A key
// that k holds already is kept when it is the same and is an error
// wrapping credentials.ErrVersionExists, dropping nothing, when it is
// not. Every key is stored in k before the table is dropped, so a move
// cut short can be run again. Backups of the data database taken before
// the move still hold the keys: expire them. When data reaches k's own
// table (one database through two handles) it refuses with an error
// wrapping credentials.ErrConfig, moving and dropping nothing.
func (k *KeyStore) MoveKeys(ctx context.Context, data DB, d Dialect) (int, error) {
	exists := `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'tenantwall_credential_keys'`
	switch d {
	case SQLite:
	case Postgres:
		exists = `SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema() AND tablename = 'tenantwall_credential_keys'`
	default:
		return 0, fmt.Errorf("%w: sqlstore dialect %v is not supported (want sqlstore.Postgres or sqlstore.SQLite)", credentials.ErrConfig, d)
	}
	if data == nil {
		return 0, fmt.Errorf("%w: sqlstore needs a database handle", credentials.ErrConfig)
	}
	var n int
	if err := queryRow(ctx, data, exists, &n); err != nil {
		return 0, fmt.Errorf("credentials/sqlstore: move keys: %w", err)
	}
	if n == 0 {
		return 0, nil
	}
	if err := k.refuseOwnTable(ctx, data); err != nil {
		return 0, err
	}
	type old struct{ id, wrapped string }
	var keys []old
	rows, err := data.QueryContext(ctx, `SELECT owner_id, wrapped FROM tenantwall_credential_keys ORDER BY owner_id`)
	if err != nil {
		return 0, fmt.Errorf("credentials/sqlstore: move keys: %w", err)
	}
	for rows.Next() {
		var o old
		if err := rows.Scan(&o.id, &o.wrapped); err != nil {
			rows.Close()
			return 0, fmt.Errorf("credentials/sqlstore: move keys: %w", err)
		}
		keys = append(keys, o)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("credentials/sqlstore: move keys: %w", err)
	}
	for _, o := range keys {
		wrapped, err := base64.StdEncoding.DecodeString(o.wrapped)
		if err != nil {
			return 0, fmt.Errorf("credentials/sqlstore: move keys: data key of tenant %q is not base64", o.id)
		}
		err = k.PutDataKey(ctx, o.id, wrapped)
		if err == nil {
			continue
		}
		have, found, gerr := k.DataKey(ctx, o.id)
		if gerr != nil || !found || !bytes.Equal(have, wrapped) {
			return 0, fmt.Errorf("credentials/sqlstore: move keys: tenant %q: %w", o.id, err)
		}
	}
	if _, err := data.ExecContext(ctx, `DROP TABLE tenantwall_credential_keys`); err != nil {
		return 0, fmt.Errorf("credentials/sqlstore: move keys: drop the old table: %w", err)
	}
	return len(keys), nil
}

// queryRow scans the one row of query into dst.
// refuseOwnTable returns an error wrapping credentials.ErrConfig when the
// data database's tenantwall_credential_keys is k's own table (the two
// handles reach one database), which MoveKeys would otherwise drop with
// every key in it. It writes a probe row through k and looks for it
// through data, then deletes it.
func (k *KeyStore) refuseOwnTable(ctx context.Context, data DB) error {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	// Hex only: safe to write into the statements.
	probe := "'tenantwall-move-probe-" + hex.EncodeToString(b[:]) + "'"
	if _, err := k.db.ExecContext(ctx, `INSERT INTO tenantwall_credential_keys (owner_id, wrapped, created_at) VALUES (`+probe+`, '', 0)`); err != nil {
		return fmt.Errorf("credentials/sqlstore: move keys: probe the key store: %w", err)
	}
	var n int
	err := queryRow(ctx, data, `SELECT count(*) FROM tenantwall_credential_keys WHERE owner_id = `+probe, &n)
	if _, derr := k.db.ExecContext(ctx, `DELETE FROM tenantwall_credential_keys WHERE owner_id = `+probe); derr != nil && err == nil {
		err = derr
	}
	if err != nil {
		return fmt.Errorf("credentials/sqlstore: move keys: probe the key store: %w", err)
	}
	if n > 0 {
		return fmt.Errorf("%w: the data database's tenantwall_credential_keys is the key store's own table (one database): nothing moved or dropped", credentials.ErrConfig)
	}
	return nil
}

func queryRow(ctx context.Context, db DB, query string, dst any) error {
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		return err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return err
		}
		return fmt.Errorf("no row")
	}
	if err := rows.Scan(dst); err != nil {
		return err
	}
	return rows.Err()
}

// DataKey implements credentials.DataKeyStore.
func (k *KeyStore) DataKey(ctx context.Context, tenantID string) ([]byte, bool, error) {
	if err := tenant.ValidateID(tenantID); err != nil {
		return nil, false, err
	}
	rows, err := k.db.QueryContext(ctx, k.q.dataKey, tenantID)
	if err != nil {
		return nil, false, fmt.Errorf("credentials/sqlstore: data key: %w", err)
	}
	defer rows.Close()
	if !rows.Next() {
		return nil, false, rows.Err()
	}
	var text string
	if err := rows.Scan(&text); err != nil {
		return nil, false, fmt.Errorf("credentials/sqlstore: data key: %w", err)
	}
	key, err := base64.StdEncoding.DecodeString(text)
	if err != nil {
		return nil, false, fmt.Errorf("credentials/sqlstore: data key of tenant %s is not base64", tenantID)
	}
	return key, true, rows.Err()
}

// PutDataKey implements credentials.DataKeyStore.
func (k *KeyStore) PutDataKey(ctx context.Context, tenantID string, wrapped []byte) error {
	if err := tenant.ValidateID(tenantID); err != nil {
		return err
	}
	if len(wrapped) == 0 {
		return fmt.Errorf("%w: empty data key", credentials.ErrRow)
	}
	res, err := k.db.ExecContext(ctx, k.q.putDataKey, tenantID, base64.StdEncoding.EncodeToString(wrapped), time.Now().UnixMilli())
	if err != nil {
		return fmt.Errorf("credentials/sqlstore: put data key: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("credentials/sqlstore: put data key: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("%w: data key of tenant %s", credentials.ErrVersionExists, tenantID)
	}
	return nil
}

// DestroyDataKey implements credentials.DataKeyStore.
func (k *KeyStore) DestroyDataKey(ctx context.Context, tenantID string) (bool, error) {
	if err := tenant.ValidateID(tenantID); err != nil {
		return false, err
	}
	res, err := k.db.ExecContext(ctx, k.q.destroyDataKey, tenantID)
	if err != nil {
		return false, fmt.Errorf("credentials/sqlstore: destroy data key: %w", err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}
