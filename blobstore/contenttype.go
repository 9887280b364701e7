package blobstore

import "mime"

// inlineTypes is the allow-list of media types a download may be rendered
// as in the browser. Each is a raster image format: browsers decode it
// into pixels and never run script from it, whatever bytes it holds
// (X-Content-Type-Options: nosniff stops them from trying another type).
// Deliberately absent:
//
//   - image/svg+xml, text/html, application/xhtml+xml and every XML type:
//     documents that run script in the download's origin.
//   - every JavaScript type (text/javascript and its aliases): a page of
//     another origin could load the file as a script.
//   - application/pdf: an active format (JavaScript, forms that submit,
//     links) rendered by a viewer whose sandboxing differs by browser; as
//     an attachment it opens outside the application's origin.
//   - text/plain and other text: harmless to modern browsers with nosniff,
//     but nothing in a tenant's files needs to be read inline, and legacy
//     clients sniff text.
//
// Everything else, including types this package has never heard of, is
// served as application/octet-stream in an attachment.
var inlineTypes = map[string]bool{
	"image/png":  true,
	"image/jpeg": true,
	"image/gif":  true,
	"image/webp": true,
}

// octetStream is what every type outside inlineTypes is served as.
const octetStream = "application/octet-stream"

// inlineEssence parses ct and reports whether its essence is allowed
// inline. mime.ParseMediaType lowercases the essence and trims blanks;
// any error, including one in the parameters only, refuses.
func inlineEssence(ct string) (string, bool) {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || !inlineTypes[mt] {
		return "", false
	}
	return mt, true
}
