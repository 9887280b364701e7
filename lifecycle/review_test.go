package lifecycle_test

import (
	"bytes"
	"context"
	"database/sql"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/lifecycle"
	"github.com/tenantwall/tenantwall/tenant"
)

// A forged archive whose row carries the largest ID the column holds
// would move the shared ID sequence (PostgreSQL identity, SQLite
// AUTOINCREMENT) to its end, so that no tenant could insert a row in that
// table again. Import refuses it and writes nothing.
func TestImportRefusesAnIDThatWouldExhaustTheSharedSequence(t *testing.T) {
	for _, e := range engines {
		t.Run("on "+e.name, func(t *testing.T) {
			in := e.open(t)
			a, b := in.seed(t, "acme", 3), in.seed(t, "globex", 3)
			_, archive := export(t, in, a.ID)
			deleteTenant(t, in, a.ID)
			contactID := regexp.MustCompile(`"id":\s*\d+`)
			forged := rewrite(t, archive, true, func(n string, d []byte) (string, []byte) {
				if strings.HasPrefix(n, "tables/") && strings.Contains(n, "contacts/000001") {
					loc := contactID.FindIndex(d)
					require.NotNil(t, loc)
					return n, append(append(append([]byte{}, d[:loc[0]]...), `"id":9223372036854775807`...), d[loc[1]:]...)
				}
				return n, d
			})
			_, err := in.plain.Import(platform, bytes.NewReader(forged))
			require.ErrorIs(t, err, lifecycle.ErrArchive)
			_, err = in.tenants.ByID(context.Background(), a.ID)
			assert.ErrorIs(t, err, tenant.ErrNotFound)
			// The other tenant can still add a contact.
			in.tx(t, b.ID, func(tx *sql.Tx) {
				var acct int64
				require.NoError(t, tx.QueryRow(in.q(`SELECT min(id) FROM accounts WHERE tenant_id = ?`), b.ID).Scan(&acct))
				_, err := tx.Exec(in.q(`INSERT INTO contacts (tenant_id, account_id, email, score, active) VALUES (?, ?, ?, ?, ?)`),
					b.ID, acct, "after@"+b.Slug+".test", 1.5, true)
				require.NoError(t, err)
			})
		})
	}
}
