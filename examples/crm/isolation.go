package main

import "net/http"

// Tenant subdomains of one base domain are same-site, so when a page of a
// sibling tenant embeds one of a tenant's URLs (<img>, <video>, <script>,
// <link>), the browser sends the tenant's SameSite=Lax session cookie
// along. The page cannot read the bytes, but it learns whether they loaded
// and an image's size, and it can show the image. The cross-origin check
// of the session middleware covers unsafe methods only; these are GETs.
// Cross-Origin-Resource-Policy: same-origin makes the browser refuse any
// such answer to a page of another origin, a sibling tenant's included.
// The tenant's own pages load only from their own origin.

// sameOriginResources marks every answer of the tenant side as usable by
// its own origin only.
func sameOriginResources(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cross-Origin-Resource-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}
