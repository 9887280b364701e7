package tenanttest

import (
	"crypto/rand"
	"encoding/hex"

	"github.com/tenantwall/tenantwall/tenant"
)

// RandomSlug returns a valid, unreserved slug made of prefix, a dash and 8
// random hex characters, such as "acme-1f3a9c0b", so that tests sharing a
// database do not collide. The prefix must itself be made of slug
// characters; an empty one is "t".
func RandomSlug(prefix string) string {
	var b [4]byte
	rand.Read(b[:])
	if prefix == "" {
		prefix = "t"
	}
	return prefix + "-" + hex.EncodeToString(b[:])
}

// NewTenant returns a valid, active tenant with a fresh random ID and the
// given slug, named "Tenant <slug>". It does not store it.
func NewTenant(slug string) tenant.Tenant {
	return tenant.Tenant{
		ID:     tenant.NewID(),
		Slug:   slug,
		Name:   "Tenant " + slug,
		Status: tenant.StatusActive,
	}
}
