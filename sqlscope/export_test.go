package sqlscope

// PreparedStatements reports how many statement texts us keeps prepared,
// once the preparations in flight are done.
func PreparedStatements(us *Units) int {
	us.stmts.wg.Wait()
	us.stmts.mu.RLock()
	defer us.stmts.mu.RUnlock()
	n := 0
	for _, st := range us.stmts.m {
		if st != nil {
			n++
		}
	}
	return n
}
