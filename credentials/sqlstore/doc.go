// Package sqlstore is a credentials.Store on SQL: PostgreSQL (any
// database/sql driver, such as pgx's stdlib) or SQLite (such as
// modernc.org/sqlite). It keeps the Vault's sealed rows in one table,
// tenantwall_credentials, and passes credentialstest.RunStoreTests on
// both engines. KeyStore is a credentials.DataKeyStore, for the tenants'
// data keys, on a database of its own.
//
//	store, err := sqlstore.New(db, sqlstore.Postgres)
//	…
//	err = store.Migrate(ctx) // once, as the table's owner
//	keys, err := sqlstore.NewKeyStore(keysDB, sqlstore.Postgres) // another database
//	…
//	err = keys.Migrate(ctx)
//	_, err = keys.MoveKeys(ctx, db, sqlstore.Postgres) // keys an earlier version left in db
//	vault, err := credentials.New(keeper, store, credentials.WithDataKeys(keys))
//
// It is a subpackage, like sqlscope/sqlstore for tenants, so that the
// credentials package itself needs no database and a service keeping
// credentials elsewhere imports no SQL code. It takes its own Dialect
// rather than sqlscope's: credentials does not depend on the database
// isolation package.
//
// # Security
//
// The table holds only ciphertext, each sealed with its tenant, provider
// and version, so a row copied or swapped in the table fails to open with
// credentials.ErrBinding rather than serve another tenant's key. The
// tenant column is owner_id, not tenant_id: the table is read on the
// platform's handle, outside row level security, and sqlscope.Audit must
// not mistake it for tenant data. Grant the application role SELECT and
// INSERT on it; only the keeper's key can open what it holds.
//
// Crypto-shredding (credentials.WithDataKeys) holds against a backup of
// the Store's database only when the KeyStore is elsewhere: in another
// database or SQLite file that is not in the data backups, with a short
// retention of its own backups. A KeyStore on the Store's own handle
// works but shreds nothing in a backup: restoring it brings the keys back
// with the rows (TestShreddingHoldsAgainstBackups shows both). Earlier
// versions kept the keys in the Store's database; KeyStore.MoveKeys moves
// them out and drops that table, and backups taken before the move still
// hold them. For SQLite, open the key file with
// "_pragma=secure_delete(on)" so that a destroyed key is overwritten.
//
// Rows are matched by exact equality on the tenant ID and provider, which
// are validated first (tenant.ValidateID, credentials.ValidateProvider):
// no pattern, prefix or case folding can reach another pair's rows.
//
// # Errors
//
// New wraps credentials.ErrConfig for an unsupported dialect or a nil
// handle. Put wraps credentials.ErrRow for a row that fails Row.Validate
// and credentials.ErrVersionExists for a version that is stored already;
// Rows wraps tenant.ErrInvalidID or credentials.ErrProvider for an invalid
// key. Other errors are the driver's, wrapped.
//
// # Concurrency
//
// A Store is safe for concurrent use when its handle is (*sql.DB is). On
// SQLite, give the connection a busy timeout (for modernc.org/sqlite,
// "?_pragma=busy_timeout(5000)") so that concurrent writers wait rather
// than fail with SQLITE_BUSY.
package sqlstore
