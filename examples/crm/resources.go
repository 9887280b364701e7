package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tenantwall/tenantwall/sqlscope"
	"github.com/tenantwall/tenantwall/tenant"
)

type kind uint8

const (
	kString kind = iota
	kBool
	kDate
)

// field is one client-writable column of a resource.
type field struct {
	name     string
	kind     kind
	required bool
	max      int      // bytes, for strings
	enum     []string // allowed values, for strings
	def      any      // value on create when absent
}

// resource is a JSON CRUD resource over one tenant table: leads, tasks,
// notifications. Handlers are thin: validation here, isolation in sqlscope.
type resource struct {
	name   string // "lead", for audit events
	table  string
	fields []field
	after  func(ctx context.Context, a *app, item map[string]any) // after create
}

var resources = map[string]*resource{
	"leads": {name: "lead", table: "leads", fields: []field{
		{name: "name", required: true, max: 200},
		{name: "phone", max: 50, def: ""},
		{name: "email", max: 254, def: ""},
		{name: "status", enum: []string{"new", "contacted", "qualified", "won", "lost"}, def: "new"},
	}},
	"tasks": {name: "task", table: "tasks", fields: []field{
		{name: "title", required: true, max: 200},
		{name: "due", kind: kDate, def: ""},
		{name: "done", kind: kBool, def: false},
	}},
	"notifications": {name: "notification", table: "notifications", fields: []field{
		{name: "message", required: true, max: 1000},
		{name: "read", kind: kBool, def: false},
	}, after: func(ctx context.Context, a *app, item map[string]any) { a.hub.publish(ctx, item) }},
}

// badRequest is a client error naming what was wrong.
type badRequest struct{ msg string }

func (e badRequest) Error() string { return e.msg }

// decodeBody reads a JSON object sent as application/json, refusing
// unknown fields (tenant_id among them: the tenant is never taken from a
// body), wrong types and bodies over 64 KiB.
func (rs *resource) decodeBody(w http.ResponseWriter, r *http.Request, create bool) (map[string]any, error) {
	if err := requireJSON(r); err != nil {
		return nil, err
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(&raw); err != nil {
		if errors.Is(err, errSlowBody) || tooLarge(err) {
			return nil, err // respond answers 408 or 413
		}
		return nil, badRequest{"body: a JSON object is required"}
	}
	if dec.More() {
		return nil, badRequest{"body: trailing data after the JSON object"}
	}
	out := map[string]any{}
	for key, val := range raw {
		f, ok := rs.field(key)
		if !ok {
			return nil, badRequest{fmt.Sprintf("field %q is not allowed", key)}
		}
		v, err := f.parse(val)
		if err != nil {
			return nil, err
		}
		out[key] = v
	}
	return rs.complete(out, create)
}

// complete checks parsed fields for a create, filling defaults and
// refusing a missing required field, or for an update, refusing none.
func (rs *resource) complete(out map[string]any, create bool) (map[string]any, error) {
	if create {
		for _, f := range rs.fields {
			if _, ok := out[f.name]; ok {
				continue
			}
			if f.required {
				return nil, badRequest{fmt.Sprintf("field %q is required", f.name)}
			}
			out[f.name] = f.def
		}
	} else if len(out) == 0 {
		return nil, badRequest{"body: no field to update"}
	}
	return out, nil
}

// tooLarge reports whether err is a body limit being reached, which is
// the body's size and not its syntax: 413, not 400.
func tooLarge(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe)
}

func (rs *resource) field(name string) (field, bool) {
	for _, f := range rs.fields {
		if f.name == name {
			return f, true
		}
	}
	return field{}, false
}

func (f field) parse(raw json.RawMessage) (any, error) {
	bad := func(why string) error { return badRequest{fmt.Sprintf("field %q: %s", f.name, why)} }
	switch f.kind {
	case kBool:
		var b bool
		if err := json.Unmarshal(raw, &b); err != nil {
			return nil, bad("must be true or false")
		}
		return b, nil
	default:
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, bad("must be a string")
		}
		s = strings.TrimSpace(s)
		if !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 && r != '\n' }) {
			return nil, bad("contains control characters")
		}
		if f.required && s == "" {
			return nil, bad("must not be empty")
		}
		if f.max > 0 && len(s) > f.max {
			return nil, bad(fmt.Sprintf("longer than %d bytes", f.max))
		}
		if f.kind == kDate && s != "" {
			if _, err := time.Parse("2006-01-02", s); err != nil {
				return nil, bad("must be a date, YYYY-MM-DD")
			}
		}
		if len(f.enum) > 0 {
			ok := false
			for _, e := range f.enum {
				ok = ok || e == s
			}
			if !ok {
				return nil, bad("must be one of " + strings.Join(f.enum, ", "))
			}
		}
		return s, nil
	}
}

func (rs *resource) columns() []string {
	cols := make([]string, len(rs.fields))
	for i, f := range rs.fields {
		cols[i] = f.name
	}
	return cols
}

func (rs *resource) scan(sc interface{ Scan(...any) error }) (map[string]any, error) {
	var id, created int64
	vals := make([]any, len(rs.fields))
	dest := []any{&id}
	for i, f := range rs.fields {
		if f.kind == kBool {
			vals[i] = new(bool)
		} else {
			vals[i] = new(string)
		}
		dest = append(dest, vals[i])
	}
	dest = append(dest, &created)
	if err := sc.Scan(dest...); err != nil {
		return nil, err
	}
	item := map[string]any{"id": id, "created_at": time.UnixMilli(created).UTC().Format(time.RFC3339)}
	for i, f := range rs.fields {
		switch v := vals[i].(type) {
		case *bool:
			item[f.name] = *v
		case *string:
			item[f.name] = *v
		}
	}
	return item, nil
}

func (a *app) list(ctx context.Context, rs *resource) ([]map[string]any, error) {
	items := []map[string]any{}
	err := a.data.tx(ctx, func(f *sqlscope.Filter) error {
		rows, err := f.Query(ctx, rs.selectSQL()+` WHERE tenant_id = {tenant} ORDER BY id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			item, err := rs.scan(rows)
			if err != nil {
				return err
			}
			items = append(items, item)
		}
		return rows.Err()
	})
	return items, err
}

func (a *app) get(ctx context.Context, rs *resource, id int64) (map[string]any, error) {
	var item map[string]any
	err := a.data.tx(ctx, func(f *sqlscope.Filter) error {
		var err error
		item, err = rs.scan(f.QueryRow(ctx, a.data.q(rs.selectSQL()+` WHERE tenant_id = {tenant} AND id = ?`), id))
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, a.notFound(ctx, rs, id)
	}
	return item, err
}

func (a *app) create(ctx context.Context, rs *resource, vals map[string]any) (map[string]any, error) {
	cols := append(rs.columns(), "created_at")
	args := make([]any, 0, len(cols))
	for _, c := range rs.columns() {
		args = append(args, vals[c])
	}
	args = append(args, time.Now().UnixMilli())
	var item map[string]any
	err := a.data.tx(ctx, func(f *sqlscope.Filter) error {
		var id int64
		if err := f.InsertReturning(ctx, rs.table, cols, args, "id").Scan(&id); err != nil {
			return err
		}
		var err error
		item, err = rs.scan(f.QueryRow(ctx, a.data.q(rs.selectSQL()+` WHERE tenant_id = {tenant} AND id = ?`), id))
		return err
	})
	if err != nil {
		return nil, err
	}
	a.changed(ctx)
	if rs.after != nil {
		afterCommit(ctx, func() { rs.after(ctx, a, item) })
	}
	return item, nil
}

func (a *app) update(ctx context.Context, rs *resource, id int64, vals map[string]any) (map[string]any, error) {
	var sets []string
	var args []any
	for _, c := range rs.columns() { // fixed order, names from the spec only
		if v, ok := vals[c]; ok {
			sets = append(sets, c+" = ?")
			args = append(args, v)
		}
	}
	args = append(args, id)
	var n int64
	err := a.data.tx(ctx, func(f *sqlscope.Filter) error {
		res, err := f.Exec(ctx, a.data.q(`UPDATE `+rs.table+` SET `+strings.Join(sets, ", ")+` WHERE tenant_id = {tenant} AND id = ?`), args...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, a.notFound(ctx, rs, id)
	}
	a.changed(ctx)
	return a.get(ctx, rs, id)
}

func (a *app) remove(ctx context.Context, rs *resource, id int64) error {
	var n int64
	err := a.data.tx(ctx, func(f *sqlscope.Filter) error {
		res, err := f.Exec(ctx, a.data.q(`DELETE FROM `+rs.table+` WHERE tenant_id = {tenant} AND id = ?`), id)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return err
	}
	if n == 0 {
		return a.notFound(ctx, rs, id)
	}
	a.changed(ctx)
	return nil
}

// notFound reports a miss, auditing it when the row belongs to another
// tenant. Either way the client sees the same 404.
func (a *app) notFound(ctx context.Context, rs *resource, id int64) error {
	if owner := a.data.probeOwner(ctx, rs.table, id); owner != "" {
		me, _ := tenant.IDFromContext(ctx)
		a.auditor.Audit(ctx, tenant.Event{Kind: tenant.EventCrossTenant, Package: "crm", TenantID: me, OwnerID: owner,
			Resource: rs.name + " " + strconv.FormatInt(id, 10)})
	}
	return errNotFound
}

// changed drops the tenant's cached dashboards once the change is
// committed, so that no request refills them with the data before it.
func (a *app) changed(ctx context.Context) {
	afterCommit(ctx, func() {
		if err := a.keyspace.Invalidate(ctx); err != nil {
			a.log.WarnContext(ctx, "cache invalidation failed", "err", err)
		}
		a.enqueuePrecompute(ctx)
	})
}

func (a *app) resourceRoutes(mux *http.ServeMux, path string, rs *resource) {
	mux.HandleFunc("GET /api/"+path+"/", a.authed(func(w http.ResponseWriter, r *http.Request) {
		items, err := a.list(r.Context(), rs)
		a.respond(w, r, http.StatusOK, map[string]any{"results": items}, err)
	}))
	mux.HandleFunc("POST /api/"+path+"/", a.authed(func(w http.ResponseWriter, r *http.Request) {
		vals, err := rs.decodeBody(w, r, true)
		if err != nil {
			a.respond(w, r, 0, nil, err)
			return
		}
		item, err := a.create(r.Context(), rs, vals)
		a.respond(w, r, http.StatusCreated, item, err)
	}))
	mux.HandleFunc("GET /api/"+path+"/{id}/", a.authed(func(w http.ResponseWriter, r *http.Request) {
		id, ok := pathID(w, r)
		if !ok {
			return
		}
		item, err := a.get(r.Context(), rs, id)
		a.respond(w, r, http.StatusOK, item, err)
	}))
	patch := a.authed(func(w http.ResponseWriter, r *http.Request) {
		id, ok := pathID(w, r)
		if !ok {
			return
		}
		vals, err := rs.decodeBody(w, r, r.Method == http.MethodPut)
		if err != nil {
			a.respond(w, r, 0, nil, err)
			return
		}
		item, err := a.update(r.Context(), rs, id, vals)
		a.respond(w, r, http.StatusOK, item, err)
	})
	mux.HandleFunc("PATCH /api/"+path+"/{id}/", patch)
	mux.HandleFunc("PUT /api/"+path+"/{id}/", patch)
	mux.HandleFunc("DELETE /api/"+path+"/{id}/", a.authed(func(w http.ResponseWriter, r *http.Request) {
		id, ok := pathID(w, r)
		if !ok {
			return
		}
		if err := a.remove(r.Context(), rs, id); err != nil {
			a.respond(w, r, 0, nil, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
}

// pathID parses {id}; anything but a positive integer is a 404, like an
// unknown id.
func pathID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		writeError(w, http.StatusNotFound, "not found")
		return 0, false
	}
	return id, true
}
