package cachekey

// DecodePart is decodePart, for the escaping round-trip tests.
var DecodePart = decodePart
