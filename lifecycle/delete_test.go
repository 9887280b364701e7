package lifecycle_test

import (
	"context"
	"database/sql"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/credentials"
	"github.com/tenantwall/tenantwall/lifecycle"
	"github.com/tenantwall/tenantwall/resolve"
	"github.com/tenantwall/tenantwall/tenant"
)

type engine struct {
	name string
	open func(t *testing.T) *instance
}

var engines = []engine{{"sqlite", newSQLite}, {"postgres with redis", newPostgres}}

func removed(rec lifecycle.Receipt) map[string]lifecycle.Removed {
	out := map[string]lifecycle.Removed{}
	for _, r := range rec.Removed {
		out[r.Store] = r
	}
	return out
}

func TestDeleteLeavesNothingOfTheTenant(t *testing.T) {
	for _, e := range engines {
		t.Run("on "+e.name, func(t *testing.T) {
			in := e.open(t)
			ctx := context.Background()
			gone, kept := in.seed(t, "gone", 5), in.seed(t, "kept", 5)

			_, err := in.m.Schedule(ctx, gone.ID)
			assert.ErrorIs(t, err, tenant.ErrNoTenant, "scheduling is platform work")
			_, err = in.m.Delete(platform, gone.ID, true)
			assert.ErrorIs(t, err, lifecycle.ErrNotSuspended, "an active tenant is never deleted")

			p, err := in.m.Schedule(platform, gone.ID)
			require.NoError(t, err)
			assert.Equal(t, time.Hour, p.DeleteAfter.Sub(p.SuspendedAt))
			got, err := in.tenants.ByID(ctx, gone.ID)
			require.NoError(t, err)
			assert.Equal(t, tenant.StatusSuspended, got.Status)

			// Suspended is refused at once by the resolver.
			res, err := resolve.New(in.tenants, resolve.WithBaseDomain("example.test"))
			require.NoError(t, err)
			served := false
			h := res.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { served = true }))
			for _, host := range []string{gone.host, gone.Slug + ".example.test"} {
				w := httptest.NewRecorder()
				r := httptest.NewRequest("GET", "/", nil)
				r.Host = host
				h.ServeHTTP(w, r)
				assert.False(t, served, "a suspended tenant is not served on %s", host)
				assert.NotEqual(t, http.StatusOK, w.Code)
			}

			_, err = in.m.Delete(platform, gone.ID, false)
			assert.ErrorIs(t, err, lifecycle.ErrGracePeriod, "not before the grace period")
			assert.Equal(t, 5, in.count(t, gone.ID)["accounts"], "a refused delete removes nothing")
			in.now = in.now.Add(time.Hour + time.Second)

			rec, err := in.m.Delete(platform, gone.ID, false)
			require.NoError(t, err)
			r := removed(rec)
			for _, tb := range []string{"accounts", "contacts", "notes"} {
				name := "table " + tb
				if in.dialect == lifecycle.Postgres {
					name = "table public." + tb
				}
				assert.EqualValues(t, 5, r[name].Count, name)
			}
			assert.EqualValues(t, 2, r["blobs"].Count)
			assert.EqualValues(t, 2*700*len(gone.Slug), r["blobs"].Bytes)
			assert.GreaterOrEqual(t, r["cache"].Count, int64(1))
			if in.redis != nil {
				assert.Equal(t, "generation counter deleted", r["cache"].Note)
			}
			assert.Equal(t, lifecycle.Removed{Store: "credentials", Count: 1, Note: "data key destroyed"}, r["credentials"])
			assert.EqualValues(t, 1, r["signing keys"].Count)
			assert.EqualValues(t, 1, r["domains"].Count)
			assert.EqualValues(t, 1, r["tenant"].Count)
			assert.Empty(t, rec.Verified.Findings)
			assert.GreaterOrEqual(t, rec.Verified.Tables, 7, "every table is scanned, registry and shared ones too")
			assert.Positive(t, rec.Verified.Objects)
			if in.redis != nil {
				assert.Positive(t, rec.Verified.RedisKeys)
			}
			assert.False(t, rec.Confirmed)
			assert.Equal(t, p.SuspendedAt, rec.SuspendedAt)

			_, err = in.tenants.ByID(ctx, gone.ID)
			assert.ErrorIs(t, err, tenant.ErrNotFound)
			_, _, err = in.tenants.ByDomain(ctx, gone.host)
			assert.ErrorIs(t, err, tenant.ErrNotFound)
			_, found, err := in.sessions.Find(ctx, gone.session)
			require.NoError(t, err)
			assert.False(t, found, "its sessions ended")
			_, err = in.vault.Get(tenant.NewContext(ctx, gone.Tenant), "openai")
			assert.ErrorIs(t, err, credentials.ErrNoCredential)
			_, err = in.keys.Current(ctx, gone.ID)
			assert.Error(t, err, "no signing key left")
			scheduled, err := in.m.Scheduled(platform)
			require.NoError(t, err)
			assert.Empty(t, scheduled)

			// The other tenant keeps everything.
			assert.Equal(t, map[string]int{"accounts": 5, "contacts": 5, "notes": 5}, in.count(t, kept.ID))
			for _, k := range kept.objects {
				data, err := in.bucket.ReadAll(ctx, "tenants/"+kept.ID+"/"+k)
				require.NoError(t, err)
				assert.Len(t, data, 700*len(kept.Slug))
			}
			_, found, err = in.sessions.Find(ctx, kept.session)
			require.NoError(t, err)
			assert.True(t, found)
			sec, err := in.vault.Get(tenant.NewContext(ctx, kept.Tenant), "openai")
			require.NoError(t, err)
			assert.Equal(t, "sk-"+kept.Slug, sec.Reveal())
			_, err = in.keys.Current(ctx, kept.ID)
			assert.NoError(t, err)
			rep, err := in.m.Verify(platform, kept.ID, kept.Slug)
			require.NoError(t, err)
			assert.NotEmpty(t, rep.Findings, "the verifier does find a tenant that exists")

			_, err = in.m.Delete(platform, gone.ID, true)
			assert.ErrorIs(t, err, tenant.ErrNotFound, "a deleted tenant is gone")
		})
	}
}

func TestDeleteOnConfirmationNeedsTheSuspension(t *testing.T) {
	in := newSQLite(t)
	ctx := context.Background()
	x := in.seed(t, "x", 1)
	x.Status = tenant.StatusSuspended
	require.NoError(t, in.tenants.Update(ctx, x.Tenant))
	_, err := in.m.Delete(platform, x.ID, false)
	assert.ErrorIs(t, err, lifecycle.ErrGracePeriod, "suspended by hand, never scheduled: only on confirmation")
	rec, err := in.m.Delete(platform, x.ID, true)
	require.NoError(t, err)
	assert.True(t, rec.Confirmed)
	assert.EqualValues(t, 1, removed(rec)["table accounts"].Count)
}

func TestCancelMakesTheTenantActiveAgain(t *testing.T) {
	in := newSQLite(t)
	x := in.seed(t, "x", 1)
	_, err := in.m.Schedule(platform, x.ID)
	require.NoError(t, err)
	require.NoError(t, in.m.Cancel(platform, x.ID))
	got, err := in.tenants.ByID(context.Background(), x.ID)
	require.NoError(t, err)
	assert.Equal(t, tenant.StatusActive, got.Status)
	in.now = in.now.Add(2 * time.Hour)
	_, err = in.m.Delete(platform, x.ID, false)
	assert.ErrorIs(t, err, lifecycle.ErrNotSuspended)
}

// TestVerifyFindsWhatSurvives leaves a row, an object and Redis keys of a
// deleted tenant behind on purpose: the verification must report each.
func TestVerifyFindsWhatSurvives(t *testing.T) {
	for _, e := range engines {
		t.Run("on "+e.name, func(t *testing.T) {
			in := e.open(t)
			ctx := context.Background()
			gone := in.seed(t, "gone", 2)
			_, err := in.m.Schedule(platform, gone.ID)
			require.NoError(t, err)
			_, err = in.m.Delete(platform, gone.ID, true)
			require.NoError(t, err)

			in.tx(t, gone.ID, func(tx *sql.Tx) {
				_, err := tx.Exec(in.q(`INSERT INTO notes (tenant_id, body) VALUES (?, 'left behind')`), gone.ID)
				require.NoError(t, err)
			})
			_, err = in.admin.Exec(in.q(`INSERT INTO countries (code, name) VALUES (?, 'a country named like the slug')`), gone.Slug)
			require.NoError(t, err)
			require.NoError(t, in.bucket.WriteAll(ctx, "tenants/"+gone.ID+"/documents/left.txt", []byte("x"), nil))
			require.NoError(t, in.bucket.WriteAll(ctx, "exports/"+gone.Slug+"/archive.tar", []byte("x"), nil))
			want := []lifecycle.Finding{
				{Store: "blob", Where: "exports/" + gone.Slug + "/archive.tar", Match: "slug in name"},
				{Store: "blob", Where: "tenants/" + gone.ID + "/documents/left.txt", Match: "id in name"},
			}
			if in.dialect == lifecycle.Postgres {
				want = append(want, lifecycle.Finding{Store: "table public.countries", Where: "rows", Match: "slug as a value", Count: 1},
					lifecycle.Finding{Store: "table public.notes", Where: "rows", Match: "id in a column", Count: 1})
				byName, byValue := "leftover:{"+gone.ID+"}", "leftover:"+gone.Slug+"-not"
				byHash := "leftover-hash-" + gone.Slug + "x"
				require.NoError(t, in.redis.Set(ctx, byName, "x", time.Minute).Err())
				require.NoError(t, in.redis.Set(ctx, byValue, `{"tenant_id":"`+gone.ID+`"}`, time.Minute).Err())
				require.NoError(t, in.redis.HSet(ctx, byHash, "owner", gone.ID).Err())
				t.Cleanup(func() { in.redis.Del(context.Background(), byName, byValue, byHash) })
				want = append(want, lifecycle.Finding{Store: "redis", Where: byName, Match: "id in name"},
					lifecycle.Finding{Store: "redis", Where: byValue, Match: "id in value"},
					lifecycle.Finding{Store: "redis", Where: byHash, Match: "id in value"})
			} else {
				want = append(want, lifecycle.Finding{Store: "table countries", Where: "rows", Match: "slug as a value", Count: 1},
					lifecycle.Finding{Store: "table notes", Where: "rows", Match: "id in a column", Count: 1})
			}
			rep, err := in.m.Verify(platform, gone.ID, gone.Slug)
			require.NoError(t, err)
			assert.ElementsMatch(t, want, rep.Findings)
			assert.ErrorIs(t, rep.Err(), lifecycle.ErrSurvived)
		})
	}
}

func TestVerifyRefusesBadInput(t *testing.T) {
	in := newSQLite(t)
	_, err := in.m.Verify(platform, "../"+tenant.NewID(), "acme")
	assert.ErrorIs(t, err, tenant.ErrInvalidID)
	_, err = in.m.Verify(platform, tenant.NewID(), "%")
	assert.ErrorIs(t, err, tenant.ErrInvalidSlug)
	_, err = in.m.Verify(context.Background(), tenant.NewID(), "acme")
	assert.ErrorIs(t, err, tenant.ErrNoTenant)
}

func TestAScheduleLeftBehindGivesNoShortcut(t *testing.T) {
	in := newSQLite(t)
	ctx := context.Background()
	x := in.seed(t, "x", 1)
	_, err := in.m.Schedule(platform, x.ID)
	require.NoError(t, err)
	// Activated behind the Manager's back, then suspended again by hand
	// long after the first grace period.
	x.Status = tenant.StatusActive
	require.NoError(t, in.tenants.Update(ctx, x.Tenant))
	in.now = in.now.Add(48 * time.Hour)
	p, err := in.m.Schedule(platform, x.ID)
	require.NoError(t, err)
	assert.Equal(t, in.now.UTC().Truncate(time.Millisecond), p.SuspendedAt, "the grace period starts again")
	_, err = in.m.Delete(platform, x.ID, false)
	assert.ErrorIs(t, err, lifecycle.ErrGracePeriod)
}
