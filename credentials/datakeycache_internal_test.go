package credentials

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A key leaves the cache overwritten with zeros, however it leaves:
// evicted, dropped, found expired or swept.
func TestDataKeyCacheOverwritesTheKeysItForgets(t *testing.T) {
	key := [32]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32}
	now := time.Now()
	c := newKeyCache(1, time.Minute)
	held := func(id string) *cachedKey {
		t.Helper()
		e := c.entries[id]
		require.NotNil(t, e)
		require.Equal(t, key, e.key)
		return e
	}
	c.put("a", key, c.generation(), now)
	a := held("a")
	c.put("b", key, c.generation(), now)
	assert.Zero(t, a.key, "evicted")
	b := held("b")
	c.drop("b")
	assert.Zero(t, b.key, "dropped")

	c.put("c", key, c.generation(), now)
	e := held("c")
	_, ok := c.get("c", now.Add(time.Minute))
	assert.False(t, ok)
	assert.Zero(t, e.key, "found expired")

	c = newKeyCache(2, time.Minute)
	c.put("d", key, c.generation(), now)
	d := held("d")
	c.put("e", key, c.generation(), now.Add(2*time.Minute))
	assert.Zero(t, d.key, "swept when another key is put")
	_, ok = c.get("d", now.Add(2*time.Minute))
	assert.False(t, ok)
}
