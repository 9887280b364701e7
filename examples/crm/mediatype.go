package main

import (
	"mime"
	"net/http"
	"slices"
	"strings"
)

// unsupportedMediaType is a request body of a type the endpoint does not
// take; it answers 415 naming the type wanted.
type unsupportedMediaType struct{ want string }

func (e unsupportedMediaType) Error() string { return "body: Content-Type " + e.want + " is required" }

// requireMediaType admits a request whose one Content-Type header has the
// essence want and no parameter but those listed in params, and refuses
// everything else. A JSON endpoint that took text/plain or a form would
// take a body any cross-site page can send without a CORS preflight; a
// charset other than UTF-8 would be decoded as something else than what
// was checked.
func requireMediaType(r *http.Request, want string, params ...string) error {
	v := r.Header.Values("Content-Type")
	if len(v) != 1 {
		return unsupportedMediaType{want}
	}
	mt, ps, err := mime.ParseMediaType(v[0])
	if err != nil || mt != want {
		return unsupportedMediaType{want}
	}
	for k, val := range ps {
		switch {
		case k == "charset" && strings.EqualFold(val, "utf-8") && slices.Contains(params, k):
		case k != "charset" && slices.Contains(params, k):
		default:
			return unsupportedMediaType{want}
		}
	}
	return nil
}

// requireJSON admits application/json, optionally with charset=utf-8.
func requireJSON(r *http.Request) error { return requireMediaType(r, "application/json", "charset") }
