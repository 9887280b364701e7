package jwtclaims

import (
	"context"
	"errors"
	"net/http"
	"strings"
)

type claimsKey struct{}

// FromContext returns the claims Middleware validated.
func FromContext(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(*Claims)
	return c, ok
}

// newContext returns ctx carrying c. It is unexported so that only
// Middleware, after Validate, can put claims where FromContext finds them:
// claims in a context are always verified claims.
func newContext(ctx context.Context, c *Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

// Middleware authenticates requests by an "Authorization: Bearer" access
// token valid on the request's tenant and puts the claims in the context.
// A missing or invalid token answers 401 with a WWW-Authenticate
// challenge (RFC 6750) that does not say why, beyond invalid_token. When
// the token could not be checked because the KeySource failed
// (ErrKeySource, which includes its timeouts), it answers 503 with
// Retry-After: the credentials may well be good, so 401 would send the
// client to log in again for nothing.
func (a *Authority) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := bearer(r)
		if !ok {
			challenge(w, "")
			return
		}
		c, err := a.Validate(r.Context(), tok, Access)
		if errors.Is(err, ErrKeySource) {
			unavailable(w)
			return
		}
		if err != nil {
			challenge(w, "invalid_token")
			return
		}
		next.ServeHTTP(w, r.WithContext(newContext(r.Context(), c)))
	})
}

// bearer returns the token of an "Authorization: Bearer" header; exactly
// one such header is accepted.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Values("Authorization")
	if len(h) != 1 {
		return "", false
	}
	scheme, tok, ok := strings.Cut(h[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" || len(tok) > 8192 {
		return "", false
	}
	return tok, true
}

func challenge(w http.ResponseWriter, errCode string) {
	v := `Bearer realm="api"`
	if errCode != "" {
		v += `, error="` + errCode + `"`
	}
	w.Header().Set("WWW-Authenticate", v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = w.Write([]byte(`{"error":"unauthorized"}` + "\n"))
}

func unavailable(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "5")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = w.Write([]byte(`{"error":"service unavailable"}` + "\n"))
}
