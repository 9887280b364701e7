package tenant

// IsReserved is isReserved, for tests of the reserved list.
var IsReserved = isReserved

// PlatformScope is platformScope, for tests of the mark.
var PlatformScope = platformScope
