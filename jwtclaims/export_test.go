package jwtclaims

// The tests and fuzz targets exercise these unexported checks directly;
// they are exported to the test binary only.
var (
	CheckClaimsJSON = checkClaimsJSON
	CheckKid        = checkKid
)
