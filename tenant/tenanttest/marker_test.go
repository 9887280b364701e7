package tenanttest

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestMarkersAreUniqueAndNameTheirTenant(t *testing.T) {
	m1, m2 := marker("acme"), marker("acme")
	assert.NotEqual(t, m1, m2)
	assert.True(t, strings.HasPrefix(m1, "tw-marker-acme-"), m1)
}

func TestNoForeignFindsAnyForeignIdentifier(t *testing.T) {
	cases := []struct {
		name    string
		body    string
		foreign []string
		leak    bool
	}{
		{"a body without foreign identifiers passes", `{"a":"mine"}`, []string{"theirs"}, false},
		{"a foreign identifier is found", `{"a":"theirs"}`, []string{"theirs"}, true},
		{"the second identifier is found too", `{"a":"theirs"}`, []string{"other", "theirs"}, true},
		{"an empty identifier matches nothing", `{"a":"mine"}`, []string{""}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := noForeign([]byte(c.body), c.foreign...)
			assert.Equal(t, c.leak, err != nil, "%v", err)
		})
	}
}
