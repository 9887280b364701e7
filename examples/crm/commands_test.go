package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCommandTable(t *testing.T) {
	t.Run("every command is listed in the usage text with its flags", func(t *testing.T) {
		u := usage()
		for _, c := range commands {
			line := strings.TrimSpace(c.name + " " + c.flags)
			assert.Contains(t, u, "  "+line+" ", "usage lacks %q", c.name)
			assert.Contains(t, u, c.help)
		}
		assert.Contains(t, u, "  serve ")
	})
	t.Run("names are unique, helped and runnable", func(t *testing.T) {
		seen := map[string]bool{}
		for _, c := range commands {
			assert.False(t, seen[c.name], "%q twice", c.name)
			seen[c.name] = true
			assert.NotEmpty(t, c.help, c.name)
			assert.NotNil(t, c.run, c.name)
			assert.LessOrEqual(t, len(strings.Fields(c.name)), 2, c.name)
			for _, n := range c.need {
				assert.Contains(t, c.flags, "-"+n, "%s: required flag -%s missing from its usage", c.name, n)
			}
		}
	})
}

func TestCommandLineRefusesWhatItDoesNotKnow(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	run := commandRunner(dir, &out)
	require.NoError(t, run("tenant", "create", "-slug", "initech", "-name", "Initech"))
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"an unknown command", []string{"bogus"}, `unknown command: "bogus"`},
		{"an unknown subcommand", []string{"tenant", "destroy", "-slug", "initech"}, `unknown command: "tenant destroy"`},
		{"a group without a subcommand", []string{"tenant"}, `unknown command: "tenant"`},
		{"a subcommand without its group", []string{"list"}, `unknown command: "list"`},
		{"a command in another case", []string{"Tenant", "list"}, "unknown command"},
		{"a missing required flag", []string{"tenant", "create", "-slug", "x"}, "tenant create: -name is required"},
		{"an empty required flag", []string{"domain", "list", "-tenant", ""}, "domain list: -tenant is required"},
		{"a flag the command does not declare", []string{"tenant", "list", "-slug", "initech"}, "flag provided but not defined: -slug"},
		{"another command's flag", []string{"resolve", "-host", "x.example", "-dry-run"}, "flag provided but not defined: -dry-run"},
		{"a stray argument", []string{"tenant", "list", "everything"}, `tenant list: unexpected argument "everything"`},
		{"a stray argument after the flags", []string{"tenant", "suspend", "-slug", "initech", "now"}, `unexpected argument "now"`},
	}
	for _, tc := range tests {
		t.Run(tc.name+" is refused", func(t *testing.T) {
			err := run(tc.args...)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
		})
	}
	t.Run("a refused suspend leaves the tenant active", func(t *testing.T) {
		require.NoError(t, run("tenant", "list"))
		assert.Contains(t, out.String(), "active")
		assert.NotContains(t, out.String(), "suspended")
	})
	t.Run("an unknown command prints the usage", func(t *testing.T) {
		_ = run("bogus")
		assert.Contains(t, out.String(), "tenant activate -slug S")
	})
	t.Run("activate undoes suspend", func(t *testing.T) {
		require.NoError(t, run("tenant", "suspend", "-slug", "initech"))
		require.NoError(t, run("tenant", "activate", "-slug", "initech"))
		assert.Contains(t, out.String(), "tenant initech is active")
	})
}
