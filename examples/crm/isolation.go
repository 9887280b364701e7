package main

import "net/http"

// Tenant subdomains of one base domain are same-site, so when a page of a
// sibling tenant embeds one of a tenant's URLs (<img>, <video>, <script>,
// <link>, <iframe>), the browser sends the tenant's SameSite=Lax session
// cookie along. The page cannot read the bytes, but it learns whether they
// loaded and an image's size, and it can show them to the person inside
// its own page. The cross-origin check of the session middleware covers
// unsafe methods only; these are GETs.
//
// Cross-Origin-Resource-Policy: same-origin makes the browser refuse any
// such answer to a page of another origin, a sibling tenant's included,
// and X-Frame-Options: DENY keeps every answer (the API's JSON and the
// files too, not only the pages) out of frames. The tenant's own pages
// load only from their own origin and frame nothing.

// sameOriginResources marks every answer of the tenant side as usable by
// its own origin only, and never in a frame.
func sameOriginResources(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		next.ServeHTTP(w, r)
	})
}
