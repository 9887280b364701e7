package resolve

// SetClock replaces the cache clock, for TTL tests.
func SetClock(r *Resolver, now func() int64) { r.now = now }

// ParseForwardedHost is parseForwarded for the table and fuzz tests: the
// host, and false when there is none or the value is malformed.
func ParseForwardedHost(v string) (string, bool) {
	host, found, err := parseForwarded(v)
	return host, found && err == nil
}

// CacheLen reports the number of cached answers.
func CacheLen(r *Resolver) int { return r.cache.len() }

// OrderNames is orderNames, for the fuzz test.
func OrderNames(body []byte) ([]string, error) { return orderNames(body) }

// ParseMessage is parseMessage for the fuzz test: the message written
// back, and whether it was understood.
func ParseMessage(msg string) (string, bool) {
	i, ok := parseMessage(msg)
	return i.String(), ok
}
