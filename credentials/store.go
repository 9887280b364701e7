package credentials

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/tenantwall/tenantwall/sqlscope"
)

// Row is one stored credential version. Only ciphertext is stored.
type Row struct {
	TenantID   string
	Provider   string
	Version    int
	Ciphertext []byte
	CreatedAt  time.Time
}

// Store keeps encrypted credential rows. Implementations must be safe for
// concurrent use.
type Store interface {
	// Put adds a row; the (tenant, provider, version) must be new.
	Put(ctx context.Context, r Row) error
	// Rows returns a tenant's rows for a provider, newest version first.
	Rows(ctx context.Context, tenantID, provider string) ([]Row, error)
}

// MemStore is an in-memory Store.
type MemStore struct {
	mu   sync.Mutex
	rows map[string][]Row // tenant + "\x00" + provider → rows
}

var _ Store = (*MemStore)(nil)

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore { return &MemStore{rows: map[string][]Row{}} }

// Put implements Store.
func (m *MemStore) Put(_ context.Context, r Row) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := r.TenantID + "\x00" + r.Provider
	for _, x := range m.rows[k] {
		if x.Version == r.Version {
			return fmt.Errorf("credentials: version %d of %s exists", r.Version, r.Provider)
		}
	}
	r.Ciphertext = append([]byte(nil), r.Ciphertext...)
	m.rows[k] = append(m.rows[k], r)
	return nil
}

// Rows implements Store.
func (m *MemStore) Rows(_ context.Context, tenantID, provider string) ([]Row, error) {
	m.mu.Lock()
	out := append([]Row(nil), m.rows[tenantID+"\x00"+provider]...)
	m.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Version > out[j].Version })
	return out, nil
}

// SQLStore keeps rows in a table tenantwall_credentials on PostgreSQL or
// SQLite. The tenant column is owner_id: the table holds only ciphertext,
// bound to its tenant by the Vault, and is read by the platform.
type SQLStore struct {
	db       *sql.DB
	postgres bool
}

var _ Store = (*SQLStore)(nil)

// NewSQLStore returns a SQLStore; postgres selects $n placeholders.
func NewSQLStore(db *sql.DB, postgres bool) *SQLStore { return &SQLStore{db: db, postgres: postgres} }

// Migrate creates the table.
func (s *SQLStore) Migrate(ctx context.Context) error {
	_, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS tenantwall_credentials (
		owner_id text NOT NULL, provider text NOT NULL, version integer NOT NULL,
		ciphertext text NOT NULL, created_at bigint NOT NULL,
		PRIMARY KEY (owner_id, provider, version))`)
	return err
}

func (s *SQLStore) q(query string) string {
	if s.postgres {
		return sqlscope.Rebind(sqlscope.Postgres, query)
	}
	return query
}

// Put implements Store. Ciphertext is stored as text (it is base64 from
// the Vault).
func (s *SQLStore) Put(ctx context.Context, r Row) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO tenantwall_credentials (owner_id, provider, version, ciphertext, created_at) VALUES (?, ?, ?, ?, ?)`),
		r.TenantID, r.Provider, r.Version, string(r.Ciphertext), r.CreatedAt.UnixMilli())
	return err
}

// Rows implements Store.
func (s *SQLStore) Rows(ctx context.Context, tenantID, provider string) ([]Row, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT version, ciphertext, created_at FROM tenantwall_credentials
		WHERE owner_id = ? AND provider = ? ORDER BY version DESC`), tenantID, provider)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Row
	for rows.Next() {
		r := Row{TenantID: tenantID, Provider: provider}
		var ct string
		var created int64
		if err := rows.Scan(&r.Version, &ct, &created); err != nil {
			return nil, err
		}
		r.Ciphertext, r.CreatedAt = []byte(ct), time.UnixMilli(created)
		out = append(out, r)
	}
	return out, rows.Err()
}
