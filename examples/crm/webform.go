package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
)

// readForm reads an application/x-www-form-urlencoded body of at most max
// bytes. It returns the fields named, each sent at most once; any other
// field, or a repeated one, is a badRequest naming it, like an unknown
// JSON field. The form posts of the web pages come through here.
func readForm(w http.ResponseWriter, r *http.Request, max int64, names ...string) (map[string]string, error) {
	if err := requireMediaType(r, "application/x-www-form-urlencoded"); err != nil {
		return nil, err
	}
	r.Body = http.MaxBytesReader(w, r.Body, max)
	if err := r.ParseForm(); err != nil {
		if tooLarge(err) || errors.Is(err, errSlowBody) {
			return nil, err
		}
		return nil, badRequest{"body: a form is required"}
	}
	out := make(map[string]string, len(r.PostForm))
	for _, k := range slices.Sorted(maps.Keys(r.PostForm)) {
		v := r.PostForm[k]
		if !slices.Contains(names, k) {
			return nil, badRequest{fmt.Sprintf("field %q is not allowed", k)}
		}
		if len(v) != 1 {
			return nil, badRequest{fmt.Sprintf("field %q is sent more than once", k)}
		}
		out[k] = v[0]
	}
	return out, nil
}

// decodeForm reads a resource's fields from a form post and checks them
// exactly as decodeBody checks JSON (a checkbox-like field is "true" or
// "false"). It also returns the raw values, to show the form again.
func (rs *resource) decodeForm(w http.ResponseWriter, r *http.Request, create bool) (map[string]any, map[string]string, error) {
	vals, err := readForm(w, r, 64<<10, rs.columns()...)
	if err != nil {
		return nil, vals, err
	}
	out := make(map[string]any, len(vals))
	for k, v := range vals {
		f, _ := rs.field(k)
		var raw json.RawMessage
		if f.kind == kBool {
			if v != "true" && v != "false" {
				return nil, vals, badRequest{fmt.Sprintf("field %q: must be true or false", k)}
			}
			raw = json.RawMessage(v)
		} else if raw, err = json.Marshal(v); err != nil {
			return nil, vals, err
		}
		if out[k], err = f.parse(raw); err != nil {
			return nil, vals, err
		}
	}
	out, err = rs.complete(out, create)
	return out, vals, err
}
