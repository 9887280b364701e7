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
	u := userFrom(ctx)
	v, err := a.dash.Get(ctx, []string{"dashboard", "overview", strconv.FormatInt(u.ID, 10), filter},
		func(ctx context.Context) (overview, error) { return a.countAll(ctx, filter) })
	a.respond(w, r, http.StatusOK, v, err)
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
