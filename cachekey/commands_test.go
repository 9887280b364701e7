package cachekey

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/internal/testenv"
	"github.com/tenantwall/tenantwall/tenant"
)

// notOnServer are table entries that a Redis 7.0 server does not list:
// go-redis sends them when it opens a connection (CLIENT SETINFO came
// with Redis 7.2; CLIENT MAINT_NOTIFICATIONS is a newer server's).
var notOnServer = []string{"client|maint_notifications", "client|setinfo"}

// field reads one field of a RESP3 map or a RESP2 flat list.
func field(v any, name string) any {
	switch m := v.(type) {
	case map[any]any:
		return m[name]
	case map[string]any:
		return m[name]
	case []any:
		for i := 0; i+1 < len(m); i += 2 {
			if fmt.Sprint(m[i]) == name {
				return m[i+1]
			}
		}
	}
	return nil
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}

type serverCommand struct {
	keyed     bool // COMMAND INFO lists key specifications
	container bool
	args      []any // COMMAND DOCS arguments
}

// serverCommands enumerates every command and subcommand the server knows,
// from COMMAND INFO and COMMAND DOCS.
func serverCommands(t *testing.T, client *redis.Client) map[string]*serverCommand {
	t.Helper()
	ctx := context.Background()
	out := map[string]*serverCommand{}
	get := func(name string) *serverCommand {
		if out[name] == nil {
			out[name] = &serverCommand{}
		}
		return out[name]
	}
	info, err := client.Do(ctx, "command", "info").Slice()
	require.NoError(t, err)
	var walk func(e []any)
	walk = func(e []any) {
		c := get(strings.ToLower(fmt.Sprint(e[0])))
		c.keyed = len(e) > 8 && len(list(e[8])) > 0
		if len(e) > 9 && len(list(e[9])) > 0 {
			c.container = true
			for _, sub := range list(e[9]) {
				walk(list(sub))
			}
		}
	}
	for _, e := range info {
		walk(list(e))
	}
	docs, err := client.Do(ctx, "command", "docs").Result()
	require.NoError(t, err)
	var walkDocs func(name string, d any)
	walkDocs = func(name string, d any) {
		c := get(strings.ToLower(name))
		c.args = list(field(d, "arguments"))
		if subs, ok := field(d, "subcommands").(map[any]any); ok && len(subs) > 0 {
			c.container = true
			for n, sd := range subs {
				walkDocs(fmt.Sprint(n), sd)
			}
		}
	}
	switch m := docs.(type) {
	case map[any]any:
		for n, d := range m {
			walkDocs(fmt.Sprint(n), d)
		}
	case []any:
		for i := 0; i+1 < len(m); i += 2 {
			walkDocs(fmt.Sprint(m[i]), m[i+1])
		}
	}
	require.Greater(t, len(out), 200, "the server listed too few commands")
	return out
}

func (r rule) checksKeys() bool {
	switch r {
	case ruleKeys, ruleSort, ruleScript, ruleScriptSHA, ruleFunction:
		return true
	}
	return false
}

// TestTableCoversEveryServerCommand fails when the server knows a command
// or subcommand that the table neither checks, allows as keyless nor
// refuses, or when the table's reading of it disagrees with the server's
// key specifications.
func TestTableCoversEveryServerCommand(t *testing.T) {
	server := serverCommands(t, testenv.Redis(t))
	names := make([]string, 0, len(server))
	for n := range server {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		sc := server[name]
		c, ok := commands[name]
		if !assert.True(t, ok, "the server knows %q and the guard's table does not", name) {
			continue
		}
		switch {
		case sc.container:
			assert.Equal(t, ruleContainer, c.rule, "%q has subcommands", name)
		case sc.keyed:
			assert.NotEqual(t, ruleKeyless, c.rule, "%q has keys and is allowed as keyless", name)
			assert.NotEqual(t, ruleContainer, c.rule, "%q", name)
		default:
			assert.False(t, c.rule.checksKeys(), "%q has no keys but the table locates some", name)
		}
	}
	for name := range commands {
		if server[name] == nil {
			assert.Contains(t, notOnServer, name, "the table has %q, which the server does not know", name)
		}
	}
}

// sample builds invocations of a command from its COMMAND DOCS arguments:
// the required ones only, and every optional one too. Key arguments get
// fresh names; numkeys counts the keys generated after it.
func sample(name string, docArgs []any, full bool, newKey func() string, keyPrefix, pattern string) []any {
	out := []any{}
	for _, w := range strings.Split(name, "|") {
		out = append(out, w)
	}
	numkeysAt := -1
	var gen func(a any)
	gen = func(a any) {
		var flags []string
		for _, f := range list(field(a, "flags")) {
			flags = append(flags, fmt.Sprint(f))
		}
		if slices.Contains(flags, "optional") && !full {
			return
		}
		n := 1
		if slices.Contains(flags, "multiple") {
			n = 2
		}
		for r := range n {
			if tok := field(a, "token"); tok != nil && (r == 0 || slices.Contains(flags, "multiple_token")) {
				out = append(out, fmt.Sprint(tok))
			}
			switch fmt.Sprint(field(a, "type")) {
			case "key":
				out = append(out, newKey())
			case "integer":
				if strings.Contains(fmt.Sprint(field(a, "name")), "numkeys") {
					numkeysAt = len(out)
				}
				out = append(out, "1")
			case "double":
				out = append(out, "1.5")
			case "pattern":
				out = append(out, pattern)
			case "pure-token":
			case "oneof":
				if alts := list(field(a, "arguments")); len(alts) > 0 {
					gen(alts[0])
				}
			case "block":
				for _, c := range list(field(a, "arguments")) {
					gen(c)
				}
			default:
				out = append(out, "s")
			}
		}
	}
	for _, a := range docArgs {
		gen(a)
	}
	if numkeysAt >= 0 {
		n := 0
		for _, a := range out[numkeysAt+1:] {
			if strings.HasPrefix(a.(string), keyPrefix) {
				n++
			}
		}
		out[numkeysAt] = fmt.Sprint(n)
	}
	return out
}

// extraSamples cover key positions the generated samples cannot reach:
// "K" becomes a fresh key.
var extraSamples = [][]any{
	{"migrate", "h", "1", "", "0", "1", "KEYS", "K", "K"},
	{"migrate", "h", "1", "", "0", "1", "COPY", "AUTH2", "u", "p", "KEYS", "K"},
	{"georadius", "K", "1", "1", "1", "km", "STOREDIST", "K"},
	{"georadiusbymember", "K", "m", "1", "km", "STOREDIST", "K"},
	{"sort", "K", "LIMIT", "0", "1", "STORE", "K"},
	{"xread", "COUNT", "1", "STREAMS", "K", "K", "K", "0", "0", "0"},
	{"xreadgroup", "GROUP", "g", "c", "NOACK", "STREAMS", "K", "0"},
	{"eval", "s", "3", "K", "K", "K", "a"},
	{"zunionstore", "K", "3", "K", "K", "K", "WEIGHTS", "1", "2", "3"},
	{"lmpop", "2", "K", "K", "LEFT"},
	{"bitop", "AND", "K", "K", "K", "K"},
	{"mset", "K", "v", "K", "v", "K", "v"},
}

// TestTableMatchesServerKeys cross-checks, for every command the table
// reads keys of, the table's key positions with the server's own
// COMMAND GETKEYS on sample invocations: each key the server names, made
// another tenant's, must be refused, and the invocation with every key the
// tenant's own and no other argument a key must pass.
func TestTableMatchesServerKeys(t *testing.T) {
	client := testenv.Redis(t)
	server := serverCommands(t, client)
	ks, err := New(client, WithAuditor(tenant.AuditorFunc(func(context.Context, tenant.Event) {})))
	require.NoError(t, err)
	t.Cleanup(func() { ks.Close() })
	g, err := ks.Guard(WithTrustedScripts(redis.NewScript("s")), WithTrustedFunctions("s"))
	require.NoError(t, err)
	a, b := tenant.NewID(), tenant.NewID()
	ctxA := tenant.NewContext(context.Background(), tenant.Tenant{ID: a, Slug: "a"})
	nsA, nsB := ks.namespace(a), ks.namespace(b)

	var names []string
	for n, c := range commands {
		if c.rule.checksKeys() {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	checked := 0
	for _, name := range names {
		t.Run(name+" agrees with the server", func(t *testing.T) {
			sc := server[name]
			require.NotNil(t, sc, "the server does not know %q", name)
			n := 0
			newKey := func() string { n++; return nsA + fmt.Sprintf("k:%d", n) }
			variants := [][]any{
				sample(name, sc.args, false, newKey, nsA+"k:", nsA+"p:*"),
				sample(name, sc.args, true, newKey, nsA+"k:", nsA+"p:*"),
			}
			for _, e := range extraSamples {
				if e[0] == name {
					v := slices.Clone(e)
					for i := range v {
						if v[i] == "K" {
							v[i] = newKey()
						}
					}
					variants = append(variants, v)
				}
			}
			agreed := 0
			for _, args := range variants {
				if name == "evalsha" || name == "evalsha_ro" {
					args[1] = sha1Hex("s")
				}
				got, err := client.Do(context.Background(), append([]any{"command", "getkeys"}, args...)...).StringSlice()
				if err != nil {
					t.Logf("server refused %q: %v", args, err)
					continue
				}
				agreed++
				// Generated keys the server does not count become plain
				// arguments, so that the table cannot claim them silently.
				for i := 1; i < len(args); i++ {
					if s, _ := args[i].(string); strings.HasPrefix(s, nsA+"k:") && !slices.Contains(got, s) {
						args[i] = "plain"
					}
				}
				assert.NoError(t, g.Check(ctxA, args), "own keys %q (server keys %q)", args, got)
				for _, k := range got {
					i := slices.Index(args, any(k))
					require.GreaterOrEqual(t, i, 0, "server key %q not among %q", k, args)
					foreign := slices.Clone(args)
					foreign[i] = nsB + strings.TrimPrefix(k, nsA)
					assert.ErrorIs(t, g.Check(ctxA, foreign), ErrForeignKey, "key %d of %q left unchecked", i, foreign)
				}
			}
			assert.Positive(t, agreed, "no sample of %q was accepted by COMMAND GETKEYS", name)
			checked++
		})
	}
	assert.Greater(t, checked, 150)
}

// FuzzGuardAgainstServer is a differential fuzz test: whatever arguments a
// command gets, when the Guard lets it through under tenant A, every key
// the server's COMMAND GETKEYS finds in it is A's.
func FuzzGuardAgainstServer(f *testing.F) {
	client := testenv.Redis(f)
	ks, err := New(client, WithAuditor(tenant.AuditorFunc(func(context.Context, tenant.Event) {})))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { ks.Close() })
	g, err := ks.Guard(WithTrustedScripts(redis.NewScript("s")), WithTrustedFunctions("s"))
	if err != nil {
		f.Fatal(err)
	}
	a, b := tenant.NewID(), tenant.NewID()
	ctxA := tenant.NewContext(context.Background(), tenant.Tenant{ID: a, Slug: "a"})
	nsA, nsB := ks.namespace(a), ks.namespace(b)
	// Words of the input: "A" and "B" stand for a key of tenant A or B.
	f.Add("georadius A 0 0 1 km STORE A STORE B")
	f.Add("georadius A 0 0 1 km STOREDIST B")
	f.Add("migrate h 1 \"\" 0 1 KEYS A KEYS B")
	f.Add("migrate h 1 \"\" 0 1 AUTH KEYS KEYS B")
	f.Add("xread COUNT 1 STREAMS A B 0 0")
	f.Add("xreadgroup GROUP STREAMS c STREAMS A B 0 0")
	f.Add("sort A BY nosort STORE B")
	f.Add("zunionstore B 1 A")
	f.Add("lmpop 2 A B LEFT")
	f.Add("eval s 1 A B")
	f.Add("bitop AND A A B")
	f.Add("object encoding B")
	f.Add("mset A v B v")
	f.Fuzz(func(t *testing.T, line string) {
		words := strings.Fields(line)
		if len(words) == 0 || len(words) > 32 {
			return
		}
		args := make([]any, len(words))
		for i, w := range words {
			switch w {
			case "A":
				args[i] = nsA + fmt.Sprint("x", i)
			case "B":
				args[i] = nsB + fmt.Sprint("x", i)
			case `""`:
				args[i] = ""
			default:
				args[i] = w
			}
		}
		if g.Check(ctxA, args) != nil {
			return
		}
		got, err := client.Do(context.Background(), append([]any{"command", "getkeys"}, args...)...).StringSlice()
		if err != nil {
			return
		}
		for _, k := range got {
			if !ks.owns(k, a) {
				t.Fatalf("the guard passed %q, whose key %q is not tenant A's", args, k)
			}
		}
	})
}

func TestGuardOptionsAreValidated(t *testing.T) {
	ks, err := New(testenv.Redis(t))
	require.NoError(t, err)
	t.Cleanup(func() { ks.Close() })
	for _, c := range []struct {
		name string
		opt  GuardOption
	}{
		{"a global prefix covering the namespaces", WithGlobalPrefixes("t")},
		{"an empty global prefix", WithGlobalPrefixes("")},
		{"a global prefix inside the namespaces", WithGlobalPrefixes("tw:" + tenant.NewID())},
		{"a global key inside the namespaces", WithGlobalKeys("tw:" + tenant.NewID() + ":g0:x")},
		{"an empty global key", WithGlobalKeys("")},
		{"a keyed command declared keyless", WithKeylessCommands("get")},
		{"a script command declared keyless", WithKeylessCommands("EVAL")},
		{"a keyspace-wide command declared keyless", WithKeylessCommands("keys")},
		{"an admin subcommand declared keyless", WithKeylessCommands("client|list")},
		{"a container declared keyless", WithKeylessCommands("config")},
		{"a non-ASCII name", WithKeylessCommands("\u212Aeys")},
		{"a nil script", WithTrustedScripts(nil)},
		{"an empty function name", WithTrustedFunctions("")},
	} {
		t.Run(c.name+" is refused", func(t *testing.T) {
			_, err := ks.Guard(c.opt)
			assert.ErrorIs(t, err, ErrConfig)
		})
	}
	_, err = ks.Guard(WithKeylessCommands("PUBLISH", "info", "mymodule.cmd", "client|no-touch"))
	assert.NoError(t, err)
	assert.False(t, errors.Is(err, ErrConfig))
}
