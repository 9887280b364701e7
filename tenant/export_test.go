package tenant

// IsReserved is isReserved, for tests of the reserved list.
var IsReserved = isReserved
