package tenanttest

import (
	"crypto/rand"
	"encoding/hex"

	"github.com/tenantwall/tenantwall/tenant"
)

// RandomSlug returns a valid, unreserved slug with the given prefix and 8
// random hex characters, such as "acme-1f3a9c0b". The prefix must itself be
// made of slug characters.
func RandomSlug(prefix string) string {
	var b [4]byte
	rand.Read(b[:])
	if prefix == "" {
		prefix = "t"
	}
	return prefix + "-" + hex.EncodeToString(b[:])
}

// NewTenant returns an active tenant with a fresh ID and the given slug,
// named after it. It does not store it.
func NewTenant(slug string) tenant.Tenant {
	return tenant.Tenant{
		ID:     tenant.NewID(),
		Slug:   slug,
		Name:   "Tenant " + slug,
		Status: tenant.StatusActive,
	}
}
