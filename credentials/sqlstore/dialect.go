package sqlstore

import "strconv"

// Dialect names the SQL engine a Store talks to. It selects the
// placeholder style of the store's statements; the table is the same on
// both engines. The zero value is not a dialect: New refuses it.
//
// credentials has its own dialect type rather than sqlscope's so that it
// does not depend on the database isolation package (see DESIGN.md,
// dependency direction).
type Dialect uint8

// Supported dialects.
const (
	SQLite   Dialect = iota + 1 // modernc.org/sqlite or any SQLite driver; ? placeholders
	Postgres                    // PostgreSQL through any database/sql driver; $n placeholders
)

// String returns the dialect's name.
func (d Dialect) String() string {
	switch d {
	case SQLite:
		return "sqlite"
	case Postgres:
		return "postgres"
	}
	return "Dialect(" + strconv.Itoa(int(d)) + ")"
}

// statements are a Store's SQL, written out for each dialect rather than
// rewritten at run time.
type statements struct{ put, rows, deleteTenant, dataKey, putDataKey, destroyDataKey string }

var dialects = map[Dialect]statements{
	SQLite: {
		put: `INSERT INTO tenantwall_credentials (owner_id, provider, version, ciphertext, created_at)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT (owner_id, provider, version) DO NOTHING`,
		rows: `SELECT version, ciphertext, created_at FROM tenantwall_credentials
			WHERE owner_id = ? AND provider = ? ORDER BY version DESC`,
		deleteTenant: `DELETE FROM tenantwall_credentials WHERE owner_id = ?`,
		dataKey:      `SELECT wrapped FROM tenantwall_credential_keys WHERE owner_id = ?`,
		putDataKey: `INSERT INTO tenantwall_credential_keys (owner_id, wrapped, created_at) VALUES (?, ?, ?)
			ON CONFLICT (owner_id) DO NOTHING`,
		destroyDataKey: `DELETE FROM tenantwall_credential_keys WHERE owner_id = ?`,
	},
	Postgres: {
		put: `INSERT INTO tenantwall_credentials (owner_id, provider, version, ciphertext, created_at)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT (owner_id, provider, version) DO NOTHING`,
		rows: `SELECT version, ciphertext, created_at FROM tenantwall_credentials
			WHERE owner_id = $1 AND provider = $2 ORDER BY version DESC`,
		deleteTenant: `DELETE FROM tenantwall_credentials WHERE owner_id = $1`,
		dataKey:      `SELECT wrapped FROM tenantwall_credential_keys WHERE owner_id = $1`,
		putDataKey: `INSERT INTO tenantwall_credential_keys (owner_id, wrapped, created_at) VALUES ($1, $2, $3)
			ON CONFLICT (owner_id) DO NOTHING`,
		destroyDataKey: `DELETE FROM tenantwall_credential_keys WHERE owner_id = $1`,
	},
}
