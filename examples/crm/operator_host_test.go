package main

import (
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The hosts the custom-domain rule compares with are canonical, so a
// configuration written in capitals with a trailing dot still keeps
// tenants off the platform's own names.
func TestCustomHostRuleUsesCanonicalConfiguredHosts(t *testing.T) {
	cfg, _, err := parseFlags("crm", []string{"-data", t.TempDir(), "-base-domain", "Apps.Example.COM.", "-platform-host", "Admin.Example.COM"}, io.Discard)
	require.NoError(t, err)
	a := &app{cfg: cfg}
	for _, h := range []string{"apps.example.com", "acme.apps.example.com", "admin.example.com"} {
		assert.ErrorIs(t, a.customHost(h), errPlatformHost, h)
	}
	assert.NoError(t, a.customHost("crm.acme.test"))
	_, _, err = parseFlags("crm", []string{"-data", t.TempDir(), "-base-domain", "bad host"}, io.Discard)
	assert.Error(t, err)
}
