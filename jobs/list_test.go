package jobs_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/jobs"
	"github.com/tenantwall/tenantwall/tenant"
)

// TestListChecksEveryJob gives List the rows a widened query could
// return, without a database: one job that is not the tenant's, by any
// spelling, refuses the whole listing, as the envelope would refuse to
// run it as the tenant.
func TestListChecksEveryJob(t *testing.T) {
	ctx := context.Background()
	acme := tenant.Tenant{ID: tenant.NewID(), Slug: "acme", Name: "Acme", Status: tenant.StatusActive}
	other := tenant.NewID()
	actx := tenant.NewContext(ctx, acme)
	key := `"` + jobs.MetadataKey + `"`
	own := func(id int64) *rivertype.JobRow {
		return &rivertype.JobRow{ID: id, Kind: "k", Metadata: []byte(`{` + key + `: "` + acme.ID + `"}`)}
	}
	listing := func(rows ...*rivertype.JobRow) func(context.Context, *river.JobListParams) (*river.JobListResult, error) {
		return func(context.Context, *river.JobListParams) (*river.JobListResult, error) {
			return &river.JobListResult{Jobs: rows}, nil
		}
	}

	t.Run("the tenant's own jobs are returned as River listed them", func(t *testing.T) {
		audit := &auditLog{}
		env, err := jobs.New(tenant.NewMemStore(), jobs.WithAuditor(audit))
		require.NoError(t, err)
		rows := []*rivertype.JobRow{own(1), {ID: 2, Kind: "k", Metadata: []byte(`{"snoozes":2,` + key + `:"` + acme.ID + `"}`)}}
		res, err := env.List(actx, listing(rows...), nil)
		require.NoError(t, err)
		assert.Equal(t, rows, res.Jobs)
		assert.Empty(t, audit.kinds())
	})

	for _, c := range []struct {
		name, metadata, owner string
	}{
		{"another tenant's job", `{` + key + `:"` + other + `"}`, other},
		{"a job naming no tenant", `{}`, ""},
		{"a job without metadata", ``, ""},
		{"the ID in another case", `{` + key + `:"` + strings.ToUpper(acme.ID) + `"}`, ""},
		{"the key in another case", `{"TENANTWALL_TENANT":"` + acme.ID + `"}`, ""},
		{"the ID inside an object", `{` + key + `:{"id":"` + acme.ID + `"}}`, ""},
		// The envelope reads the last of repeated keys, as encoding/json
		// does; SQLite's ->> reads the first.
		{"the key repeated, another tenant's last", `{` + key + `:"` + acme.ID + `",` + key + `:"` + other + `"}`, other},
	} {
		t.Run(c.name+" refuses the listing and is reported", func(t *testing.T) {
			audit := &auditLog{}
			env, err := jobs.New(tenant.NewMemStore(), jobs.WithAuditor(audit))
			require.NoError(t, err)
			foreign := &rivertype.JobRow{ID: 7, Kind: "k", Metadata: []byte(c.metadata)}
			res, err := env.List(actx, listing(own(1), foreign, own(8)), nil)
			assert.ErrorIs(t, err, jobs.ErrForeignJob)
			assert.Nil(t, res)
			require.Len(t, audit.events, 1)
			assert.Equal(t, tenant.Event{Kind: tenant.EventCrossTenant, TenantID: acme.ID, OwnerID: c.owner,
				Resource: "job 7 (k)", Package: "jobs", Err: jobs.ErrForeignJob}, audit.events[0])
		})
	}

	t.Run("without a tenant nothing is listed", func(t *testing.T) {
		env, err := jobs.New(tenant.NewMemStore())
		require.NoError(t, err)
		called := false
		_, err = env.List(ctx, func(context.Context, *river.JobListParams) (*river.JobListResult, error) {
			called = true
			return &river.JobListResult{}, nil
		}, nil)
		assert.ErrorIs(t, err, tenant.ErrNoTenant)
		assert.False(t, called, "listed without a tenant")
	})

	t.Run("a list function answering nothing is an error, not a panic", func(t *testing.T) {
		env, err := jobs.New(tenant.NewMemStore())
		require.NoError(t, err)
		res, err := env.List(actx, func(context.Context, *river.JobListParams) (*river.JobListResult, error) {
			return nil, nil
		}, nil)
		assert.Error(t, err)
		assert.Nil(t, res)
	})

	t.Run("River's error is returned", func(t *testing.T) {
		env, err := jobs.New(tenant.NewMemStore())
		require.NoError(t, err)
		boom := errors.New("boom")
		res, err := env.List(actx, func(context.Context, *river.JobListParams) (*river.JobListResult, error) {
			return nil, boom
		}, nil)
		assert.ErrorIs(t, err, boom)
		assert.Nil(t, res)
	})
}
