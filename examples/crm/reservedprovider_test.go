package main

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/credentials"
	"github.com/tenantwall/tenantwall/tenant"
)

// TestReservedProviderSpellings tries to plant a signing key through the
// operator's credentials API under spellings of the reserved provider
// that a lenient check or store might take for it: escaped, cased,
// padded, with control bytes or look-alike Unicode. None is stored, as
// crm-jwt-signing or otherwise, and acme's signing keys are unchanged.
func TestReservedProviderSpellings(t *testing.T) {
	s := newServer(t, "sqlite")
	op := s.client(t, "platform.localhost")
	op.token = "op-secret"
	acme, err := s.app.tenants.BySlug(context.Background(), "acme")
	require.NoError(t, err)
	actx := tenant.NewContext(context.Background(), acme)
	newest := func() int {
		sec, err := s.app.vault.Get(actx, signingProvider)
		if errors.Is(err, credentials.ErrNoCredential) {
			return 0
		}
		require.NoError(t, err)
		return sec.Version
	}
	before := newest()
	for _, p := range []string{
		"crm-jwt-signing", "crm%2Djwt%2Dsigning", "%63rm-jwt-signing", "CRM-JWT-SIGNING", "Crm-Jwt-Signing",
		"crm-jwt-signing%20", "%20crm-jwt-signing", "crm-jwt-signing%09", "crm-jwt-signing%00", "crm-jwt-signing%0A",
		"crm%E2%80%90jwt%E2%80%90signing", "crm-jwt-sign%C4%B1ng", "%EF%BD%83rm-jwt-signing", "crm-jwt-signing%2F",
		"crm-jwt-signing%2F..%2Fcrm-jwt-signing", "crm_jwt_signing%C2%AD",
	} {
		code, _ := op.json("PUT", "/admin/api/tenants/acme/credentials/"+p+"/", map[string]any{"key": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"})
		assert.Contains(t, []int{http.StatusBadRequest, http.StatusNotFound}, code, "provider %q", p)
	}
	assert.Equal(t, before, newest(), "no signing key was planted")
}
