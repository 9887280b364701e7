package main

import (
	"context"
	"net/http"
	"strconv"

	"github.com/tenantwall/tenantwall/sqlscope"
)

// overview is the dashboard: counts per resource.
type overview struct {
	Leads         int    `json:"leads"`
	Tasks         int    `json:"tasks"`
	OpenTasks     int    `json:"open_tasks"`
	Notifications int    `json:"notifications"`
	Unread        int    `json:"unread_notifications"`
	Documents     int    `json:"documents"`
	Applicants    int    `json:"applicants"`
	Filter        string `json:"filter"`
}

var filters = map[string]bool{"all": true, "open": true, "mine": true}

// dashboard answers counts, cached per tenant + user + filter (the source
// plan's key) and dropped whenever the tenant's data changes.
func (a *app) dashboard(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	filter := r.URL.Query().Get("filter")
	if filter == "" {
		filter = "all"
	}
	if !filters[filter] {
		writeError(w, http.StatusBadRequest, `parameter "filter" must be all, open or mine`)
		return
	}
	v, err := a.overview(ctx, userFrom(ctx).ID, filter)
	a.respond(w, r, http.StatusOK, v, err)
}

// overviewKey is the dashboard cache key: per tenant (the keyspace adds
// it), user and filter.
func overviewKey(userID int64, filter string) []string {
	return []string{"dashboard", "overview", strconv.FormatInt(userID, 10), filter}
}

// overview returns the dashboard counts from the cache, or counts them.
// The count runs in a transaction of its own, not the request's unit:
// concurrent requests share one load, which runs with the first one's
// context and may outlive it.
func (a *app) overview(ctx context.Context, userID int64, filter string) (overview, error) {
	return a.dash.Get(ctx, overviewKey(userID, filter), func(ctx context.Context) (overview, error) {
		return a.countAll(sqlscope.WithoutUnit(ctx), filter)
	})
}

func (a *app) countAll(ctx context.Context, filter string) (overview, error) {
	o := overview{Filter: filter}
	err := a.data.tx(ctx, func(f *sqlscope.Filter) error {
		for q, dst := range map[string]*int{
			`SELECT count(*) FROM leads WHERE tenant_id = {tenant}`:                      &o.Leads,
			`SELECT count(*) FROM tasks WHERE tenant_id = {tenant}`:                      &o.Tasks,
			`SELECT count(*) FROM tasks WHERE tenant_id = {tenant} AND NOT done`:         &o.OpenTasks,
			`SELECT count(*) FROM notifications WHERE tenant_id = {tenant}`:              &o.Notifications,
			`SELECT count(*) FROM notifications WHERE tenant_id = {tenant} AND NOT read`: &o.Unread,
			`SELECT count(*) FROM documents WHERE tenant_id = {tenant}`:                  &o.Documents,
			`SELECT count(*) FROM applicants WHERE tenant_id = {tenant}`:                 &o.Applicants,
		} {
			if err := f.QueryRow(ctx, q).Scan(dst); err != nil {
				return err
			}
		}
		return nil
	})
	return o, err
}
