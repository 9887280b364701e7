package sqlscope

import "sync"

// maxTemplates bounds the statement texts whose rewriting bind keeps.
// When it is reached the cache is emptied and refills with the texts in
// use: an application that splices values into its statements (so that
// every text is new) costs a lexing per statement, never memory.
const maxTemplates = 1024

// template is a statement text lexed and rewritten once: the text with
// every Marker replaced by a placeholder, and for each argument bound
// with it, the index of the caller's argument, or -1 for the tenant ID.
// It depends only on the dialect, the text and the number of the caller's
// arguments (the key); the tenant ID is never part of it, only bound.
type template struct {
	text  string
	order []int
}

type templateKey struct {
	d     Dialect
	query string
	n     int
}

// templateCache keeps the templates of the statement texts bound so
// far, so that a statement the application sends on every request is
// lexed once. Only texts that compiled are kept: a refused text is lexed
// (and refused) every time.
type templateCache struct {
	mu sync.RWMutex
	m  map[templateKey]template
}

var templates templateCache

func (c *templateCache) get(d Dialect, query string, n int) (template, error) {
	k := templateKey{d, query, n}
	c.mu.RLock()
	t, ok := c.m[k]
	c.mu.RUnlock()
	if ok {
		return t, nil
	}
	t, err := compile(d, query, n)
	if err != nil {
		return template{}, err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxTemplates {
		c.m = make(map[templateKey]template, 64)
	}
	c.m[k] = t
	c.mu.Unlock()
	return t, nil
}
