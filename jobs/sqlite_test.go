package jobs_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/tenantwall/tenantwall/jobs"
	"github.com/tenantwall/tenantwall/tenant"
)

const (
	hour = time.Hour
)

func timeNow() time.Time                  { return time.Now() }
func upper(s string) string               { return strings.ToUpper(s) }
func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func TestSQLite(t *testing.T) {
	t.Run("interleaved jobs of several tenants each see only their own tenant and rows", func(t *testing.T) {
		testInterleavedIsolation(t, newSQLiteBed(t))
	})
	t.Run("interleaved jobs of several tenants on one worker slot each see only their own", func(t *testing.T) {
		testInterleavedIsolation(t, newSQLiteBedWith(t, tenant.NewMemStore(), oneWorker))
	})
	t.Run("an insert without a tenant inserts nothing", func(t *testing.T) {
		testInsertWithoutTenant(t, newSQLiteBed(t))
	})
	t.Run("a job exists only if the data of its transaction does", func(t *testing.T) {
		testJobExistsOnlyWithItsData(t, newSQLiteBed(t))
	})
	t.Run("a job without a valid tenant is cancelled and never runs", func(t *testing.T) {
		testJobWithoutValidTenantNeverRuns(t, newSQLiteBed(t))
	})
	t.Run("a suspended tenant's job is snoozed and a deleted tenant's cancelled", func(t *testing.T) {
		testTenantLifecycle(t, newSQLiteBed(t), river.EventKindJobSnoozed)
	})
	t.Run("a suspended tenant's job is cancelled when snoozing is off", func(t *testing.T) {
		testTenantLifecycle(t, newSQLiteBed(t, jobs.WithSuspendedSnooze(0)), river.EventKindJobCancelled)
	})
	t.Run("unique jobs are unique per tenant", func(t *testing.T) {
		testUniquePerTenant(t, newSQLiteBed(t))
	})
	t.Run("ListParams lists the context tenant's jobs only", func(t *testing.T) {
		testListParams(t, newSQLiteBed(t))
	})
}
