package cachekey

import (
	"context"
	"crypto/sha1"
	"encoding"
	"encoding/hex"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tenantwall/tenantwall/tenant"
)

type internalKey struct{}

// internal marks the Keyspace's own commands (generation reads and bumps,
// purges), which the Guard lets through. The key type is unexported, so
// callers cannot forge the mark.
func internal(ctx context.Context) context.Context {
	return context.WithValue(ctx, internalKey{}, true)
}

func isInternal(ctx context.Context) bool {
	v, _ := ctx.Value(internalKey{}).(bool)
	return v
}

// Guard is a go-redis hook that fails closed. It decides from one table of
// every Redis 7 command (its key specifications, destinations included):
// a command runs only if every key it names, source and destination, is
// inside the context tenant's namespace, or if it is known to touch no key
// and to show nothing of any tenant. Everything else is refused before it
// is sent, single commands and pipelines (MULTI/EXEC included) alike:
// commands that are not in the table, keyspace-wide and administrative
// ones (KEYS, SCAN, FLUSHDB, SELECT, CONFIG, CLIENT LIST, SUBSCRIBE…),
// keyed commands without a tenant, scripts and functions the application
// has not registered as trusted, and SORT BY/GET patterns outside the
// namespace. A key inside another tenant's namespace is reported to the
// auditor as a cross-tenant attempt.
//
// Install it with
//
//	g, err := ks.Guard(opts...)
//	…
//	client.AddHook(g)
//
// go-redis's PubSub (Subscribe, PSubscribe) does not pass through hooks;
// the Guard does not see it. go-redis sends SELECT through the hooks when
// it opens a connection to a database other than 0, and the Guard refuses
// SELECT: a guarded client uses database 0. A Guard is safe for concurrent
// use.
type Guard struct {
	ks *Keyspace
	guardOptions
}

var _ redis.Hook = (*Guard)(nil)

// GuardOption configures the Guard that Keyspace.Guard returns. Options
// write to a private options value, never to a live Guard, and an invalid
// one makes Keyspace.Guard return an error wrapping ErrConfig that names it.
type GuardOption func(*guardOptions) error

// guardOptions are what Keyspace.Guard's options set; Guard embeds them.
type guardOptions struct {
	own       string // "<prefix>:", where every tenant namespace starts
	exact     map[string]bool
	prefixes  []string
	keyless   map[string]bool
	scripts   map[string]bool // SHA1 (lower-case hex) of trusted script bodies
	functions map[string]bool
}

// WithGlobalKeys allows these exact keys for every tenant and for
// requests without one. A key inside the Keyspace's own namespaces is an
// error: it would give every tenant one tenant's key.
func WithGlobalKeys(keys ...string) GuardOption {
	return func(g *guardOptions) error {
		own := g.own
		for _, k := range keys {
			if k == "" || strings.HasPrefix(k, own) {
				return fmt.Errorf("%w: WithGlobalKeys: key %q is empty or inside the tenant namespaces %q", ErrConfig, k, own)
			}
			g.exact[k] = true
		}
		return nil
	}
}

// WithGlobalPrefixes allows keys starting with these prefixes for every
// tenant and for requests without one. A prefix that overlaps the
// Keyspace's own namespaces (or is empty) is an error.
func WithGlobalPrefixes(prefixes ...string) GuardOption {
	return func(g *guardOptions) error {
		own := g.own
		for _, p := range prefixes {
			if strings.HasPrefix(own, p) || strings.HasPrefix(p, own) {
				return fmt.Errorf("%w: WithGlobalPrefixes: prefix %q is empty or overlaps the tenant namespaces %q", ErrConfig, p, own)
			}
			g.prefixes = append(g.prefixes, p)
		}
		return nil
	}
}

// WithKeylessCommands allows commands that touch no key and that the
// Guard refuses by default because they reach beyond one tenant (PUBLISH
// and SPUBLISH, whose channels all tenants share; INFO, LASTSAVE, ROLE),
// or that are not in its table at all (module commands; a subcommand is
// named "container|sub"). The application vouches that they touch no key.
// PUBLISH and SPUBLISH still refuse a channel under the Keyspace's prefix
// ("<prefix>:") outside the context tenant's namespace: the Keyspace's
// invalidation channel is there.
// Naming a command the table knows to have keys, a script command, or a
// keyspace-wide or administrative command is an error.
func WithKeylessCommands(names ...string) GuardOption {
	return func(g *guardOptions) error {
		for _, n := range names {
			name, ok := lowerASCII(n)
			if !ok || name == "" {
				return fmt.Errorf("%w: WithKeylessCommands: command %q", ErrConfig, n)
			}
			if c, known := commands[name]; known && c.rule != ruleOptIn {
				return fmt.Errorf("%w: WithKeylessCommands: %q cannot be declared keyless: the guard's table has it as %s", ErrConfig, n, c.rule)
			}
			g.keyless[name] = true
		}
		return nil
	}
}

// WithTrustedScripts allows these Lua scripts, identified by the SHA1 of
// their body, through EVAL, EVAL_RO, EVALSHA, EVALSHA_RO, SCRIPT LOAD and
// SCRIPT EXISTS, so that Script.Run (EVALSHA, then EVAL when the server
// does not have the script) and Script.Load work. Every key a call
// declares (KEYS[]) must be in the tenant's namespace, and an argument
// (ARGV[]) inside another tenant's namespace is refused. The Guard cannot
// see what a script does with its arguments: registering a script trusts
// it to touch only the keys it declares.
func WithTrustedScripts(scripts ...*redis.Script) GuardOption {
	return func(g *guardOptions) error {
		for i, s := range scripts {
			if s == nil {
				return fmt.Errorf("%w: WithTrustedScripts: script %d is nil", ErrConfig, i)
			}
			g.scripts[strings.ToLower(s.Hash())] = true
		}
		return nil
	}
}

// WithTrustedFunctions allows these Redis functions, by exact name,
// through FCALL and FCALL_RO, with the same checks as WithTrustedScripts.
// A function is trusted by name: the application must control what is
// loaded under it (the Guard refuses FUNCTION LOAD).
func WithTrustedFunctions(names ...string) GuardOption {
	return func(g *guardOptions) error {
		for _, n := range names {
			if n == "" {
				return fmt.Errorf("%w: WithTrustedFunctions: empty function name", ErrConfig)
			}
			g.functions[n] = true
		}
		return nil
	}
}

// Guard returns a fail-closed hook for this Keyspace's namespaces. An
// invalid option, or a memory Keyspace, makes it return an error wrapping
// ErrConfig.
func (k *Keyspace) Guard(opts ...GuardOption) (*Guard, error) {
	if k.client == nil {
		return nil, fmt.Errorf("%w: a memory keyspace (NewMemory) has no Redis client to guard", ErrConfig)
	}
	o := guardOptions{own: k.prefix + ":", exact: map[string]bool{}, keyless: map[string]bool{},
		scripts: map[string]bool{}, functions: map[string]bool{}}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	return &Guard{ks: k, guardOptions: o}, nil
}

// DialHook implements redis.Hook.
func (g *Guard) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) { return next(ctx, network, addr) }
}

// ProcessHook implements redis.Hook.
func (g *Guard) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if err := g.Check(ctx, cmd.Args()); err != nil {
			cmd.SetErr(err)
			return err
		}
		return next(ctx, cmd)
	}
}

// ProcessPipelineHook implements redis.Hook. One refused command refuses
// the whole pipeline or transaction, before any of it is sent.
func (g *Guard) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, cmd := range cmds {
			if err := g.Check(ctx, cmd.Args()); err != nil {
				for _, c := range cmds {
					c.SetErr(err)
				}
				return err
			}
		}
		return next(ctx, cmds)
	}
}

// scope is the context tenant, looked up once per command and only when a
// key must be checked.
type scope struct {
	id     string
	err    error
	loaded bool
}

func (s *scope) load(ctx context.Context) {
	if !s.loaded {
		s.id, s.err = tenant.IDFromContext(ctx)
		s.loaded = true
	}
}

// Check applies the guard to one command's arguments (args[0] is the
// command name), as the hook does.
func (g *Guard) Check(ctx context.Context, args []any) error {
	if len(args) == 0 || isInternal(ctx) {
		return nil
	}
	err := g.check(ctx, args)
	if err != nil {
		g.auditRefused(ctx, args)
	}
	return err
}

// auditRefused reports every argument of a refused command that lies in
// another tenant's namespace, wherever it stood, so that an attempt is
// audited even when the Guard stopped at another argument first.
func (g *Guard) auditRefused(ctx context.Context, args []any) {
	id, err := tenant.IDFromContext(ctx)
	if err != nil {
		return
	}
	name, _ := argString(args[0])
	for _, a := range args[1:] {
		v, ok := argString(a)
		if !ok {
			continue
		}
		if owner := g.ks.ownerOf(v); owner != "" && owner != id {
			g.ks.auditor.Audit(ctx, tenant.Event{Kind: tenant.EventCrossTenant, Package: "cachekey",
				TenantID: id, OwnerID: owner, Resource: truncate(name, 40) + " " + truncate(v, 200)})
		}
	}
}

func (g *Guard) check(ctx context.Context, args []any) error {
	raw, _ := argString(args[0])
	name, ok := lowerASCII(raw)
	if !ok {
		return fmt.Errorf("%w: command name %.40q", ErrCommand, raw)
	}
	c, known := commands[name]
	if known && c.rule == ruleContainer {
		if len(args) < 2 {
			return fmt.Errorf("%w: %q without a subcommand", ErrCommand, name)
		}
		sub, _ := argString(args[1])
		lsub, ok := lowerASCII(sub)
		if !ok {
			return fmt.Errorf("%w: %s subcommand %.40q", ErrCommand, name, sub)
		}
		name = name + "|" + lsub
		c, known = commands[name]
	}
	if !known {
		if g.keyless[name] {
			return nil
		}
		return fmt.Errorf("%w: %q is not in the guard's table", ErrCommand, name)
	}
	var s scope
	switch c.rule {
	case ruleKeys:
		return g.checkSpecs(ctx, &s, name, c.specs, args)
	case ruleKeyless:
		return nil
	case ruleOptIn:
		if g.keyless[name] {
			if name == "publish" || name == "spublish" {
				return g.checkChannel(ctx, &s, name, args)
			}
			return nil
		}
		return fmt.Errorf("%w: %q reaches beyond the tenant; allow it with WithKeylessCommands", ErrCommand, name)
	case ruleSort:
		if err := g.checkSpecs(ctx, &s, name, c.specs, args); err != nil {
			return err
		}
		return g.checkSortPatterns(ctx, &s, name, args)
	case ruleScript, ruleScriptSHA, ruleFunction:
		return g.checkScript(ctx, &s, name, c, args)
	case ruleScriptLoad:
		body, ok := argString(arg(args, 2))
		if !ok || len(args) < 3 {
			return fmt.Errorf("%w: %w: %s of a script body that is a %T", ErrCommand, ErrUntrustedScript, name, arg(args, 2))
		}
		return g.trustedSHA(name, sha1Hex(body))
	case ruleScriptExists:
		for _, a := range args[2:] {
			sha, _ := argString(a)
			if err := g.trustedSHA(name, strings.ToLower(sha)); err != nil {
				return err
			}
		}
		return nil
	case ruleTracking:
		return checkTracking(args)
	}
	return fmt.Errorf("%w: %q %s", ErrCommand, name, c.rule)
}

func (g *Guard) checkSpecs(ctx context.Context, s *scope, name string, specs []keySpec, args []any) error {
	for _, sp := range specs {
		if sp.keyword == "" {
			if err := g.checkRun(ctx, s, name, sp, sp.index, args); err != nil {
				return err
			}
			continue
		}
		// A keyword as the last argument has no key after it.
		for i := sp.from; i < len(args)-1; i++ {
			w, ok, err := argText(name, i, args[i])
			if err != nil {
				return err
			}
			if ok && equalFoldASCII(w, sp.keyword) {
				if err := g.checkRun(ctx, s, name, sp, i+1, args); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// checkRun checks the keys of one spec whose run begins at args[first],
// computed as Redis computes them (getKeysUsingKeySpecs), except that a
// missing key argument or a bad key count is refused rather than skipped.
func (g *Guard) checkRun(ctx context.Context, s *scope, name string, sp keySpec, first int, args []any) error {
	argc := len(args)
	last, step := 0, sp.step
	switch {
	case sp.keyNum:
		n, ok := argInt(arg(args, first))
		if !ok || n < 0 || n > argc {
			return fmt.Errorf("%w: %s: bad key count %.40v", ErrCommand, name, arg(args, first))
		}
		first++
		last = first + n - 1
		step = 1
		if last >= argc {
			return fmt.Errorf("%w: %s: key count %d exceeds the arguments", ErrCommand, name, n)
		}
	case sp.lastKey >= 0:
		last = first + sp.lastKey
		if last >= argc {
			return fmt.Errorf("%w: %s: missing key argument %d", ErrCommand, name, last)
		}
	case sp.limit > 0:
		last = first + (argc-first)/sp.limit - 1
	default:
		last = argc + sp.lastKey
	}
	for i := first; i <= last; i += step {
		if sp.emptyNotKey {
			if k, ok := argString(args[i]); ok && k == "" && keywordFollows(args, "KEYS", migrateOptions) {
				continue
			}
		}
		if err := g.checkKey(ctx, s, name, args[i]); err != nil {
			return err
		}
	}
	return nil
}

// keywordFollows reports whether kw occurs at or after args[from] with an
// argument after it.
func keywordFollows(args []any, kw string, from int) bool {
	for i := from; i < len(args)-1; i++ {
		if w, ok := argString(args[i]); ok && equalFoldASCII(w, kw) {
			return true
		}
	}
	return false
}

func (g *Guard) checkKey(ctx context.Context, s *scope, name string, a any) error {
	key, ok := argString(a)
	if !ok {
		return fmt.Errorf("%w: %s: key argument is a %T", ErrCommand, name, a)
	}
	if g.global(key) {
		return nil
	}
	s.load(ctx)
	if s.err != nil {
		return fmt.Errorf("%w: %s %.100q: %w", ErrForeignKey, name, key, s.err)
	}
	if !g.ks.owns(key, s.id) {
		return fmt.Errorf("%w: %s %.100q", ErrForeignKey, name, key)
	}
	return nil
}

// checkSortPatterns checks SORT's BY and GET patterns, which name the keys
// SORT reads: the first '*' is replaced by each element, so a pattern with
// a '*' must begin inside the tenant's namespace (or a global prefix). A
// pattern without '*' reads no key ("#" is the element itself; BY without
// '*' skips sorting). Every BY or GET token is taken as one, so a pattern
// cannot hide behind another option's value.
func (g *Guard) checkSortPatterns(ctx context.Context, s *scope, name string, args []any) error {
	for i := 2; i < len(args)-1; i++ {
		tok, ok, err := argText(name, i, args[i])
		if err != nil {
			return err
		}
		if !ok || !equalFoldASCII(tok, "BY") && !equalFoldASCII(tok, "GET") {
			continue
		}
		p, ok := argString(args[i+1])
		if !ok {
			return fmt.Errorf("%w: %s: pattern argument is a %T", ErrCommand, name, args[i+1])
		}
		if !strings.Contains(p, "*") {
			continue
		}
		if g.globalPrefix(p) {
			continue
		}
		s.load(ctx)
		if s.err != nil {
			return fmt.Errorf("%w: %s pattern %.100q: %w", ErrForeignKey, name, p, s.err)
		}
		if !g.ks.owns(p, s.id) {
			return fmt.Errorf("%w: %s pattern %.100q", ErrForeignKey, name, p)
		}
	}
	return nil
}

// checkScript lets a registered script or function run with its declared
// keys checked. Its other arguments cannot be read as keys or not; one
// that lies in another tenant's namespace is still refused, as a last
// line behind the trust the application gave the script.
func (g *Guard) checkScript(ctx context.Context, s *scope, name string, c command, args []any) error {
	ident, ok := argString(arg(args, 1))
	if !ok || len(args) < 2 {
		return fmt.Errorf("%w: %w: %s of a script that is a %T", ErrCommand, ErrUntrustedScript, name, arg(args, 1))
	}
	switch c.rule {
	case ruleScript:
		if err := g.trustedSHA(name, sha1Hex(ident)); err != nil {
			return err
		}
	case ruleScriptSHA:
		if err := g.trustedSHA(name, strings.ToLower(ident)); err != nil {
			return err
		}
	default:
		if !g.functions[ident] {
			return fmt.Errorf("%w: %w: %s %.60q", ErrCommand, ErrUntrustedScript, name, ident)
		}
	}
	if err := g.checkSpecs(ctx, s, name, c.specs, args); err != nil {
		return err
	}
	n, _ := argInt(args[2]) // checked by checkSpecs
	for i, a := range args[3+n:] {
		v, ok, err := argText(name, 3+n+i, a)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if owner := g.ks.ownerOf(v); owner != "" {
			s.load(ctx)
			if s.err != nil || owner != s.id {
				return fmt.Errorf("%w: %s argument %.100q", ErrForeignKey, name, v)
			}
		}
	}
	return nil
}

// checkChannel keeps an allowed PUBLISH or SPUBLISH out of the Keyspace's
// own channels: everything under "<prefix>:" is the Keyspace's, like its
// keys. Its invalidation channel sets tenants' generations in every
// process (a forged maximum would freeze a tenant's invalidation), and a
// channel in a tenant's namespace is that tenant's. Other channels are the
// application's, shared by all tenants, as WithKeylessCommands says.
func (g *Guard) checkChannel(ctx context.Context, s *scope, name string, args []any) error {
	if len(args) < 2 {
		return fmt.Errorf("%w: %s without a channel", ErrCommand, name)
	}
	ch, ok := argString(args[1])
	if !ok {
		return fmt.Errorf("%w: %s: channel argument is a %T", ErrCommand, name, args[1])
	}
	if !strings.HasPrefix(ch, g.own) {
		return nil
	}
	s.load(ctx)
	if s.err != nil {
		return fmt.Errorf("%w: %s channel %.100q: %w", ErrForeignKey, name, ch, s.err)
	}
	if !g.ks.owns(ch, s.id) {
		return fmt.Errorf("%w: %s channel %.100q", ErrForeignKey, name, ch)
	}
	return nil
}

func (g *Guard) trustedSHA(name, sha string) error {
	if !g.scripts[sha] {
		return fmt.Errorf("%w: %w: %s of script %.40q", ErrCommand, ErrUntrustedScript, name, sha)
	}
	return nil
}

// checkTracking allows CLIENT TRACKING ON|OFF with OPTIN, OPTOUT and
// NOLOOP only: BCAST and PREFIX would report changes to any tenant's keys,
// REDIRECT would send the reports to another connection.
func checkTracking(args []any) error {
	mode, _ := argString(arg(args, 2))
	if !equalFoldASCII(mode, "ON") && !equalFoldASCII(mode, "OFF") {
		return fmt.Errorf("%w: client|tracking %.20q", ErrCommand, mode)
	}
	for _, a := range args[3:] {
		o, _ := argString(a)
		if !equalFoldASCII(o, "OPTIN") && !equalFoldASCII(o, "OPTOUT") && !equalFoldASCII(o, "NOLOOP") {
			return fmt.Errorf("%w: client|tracking option %.20q", ErrCommand, o)
		}
	}
	return nil
}

func (g *Guard) global(key string) bool {
	return g.exact[key] || g.globalPrefix(key)
}

func (g *Guard) globalPrefix(key string) bool {
	for _, p := range g.prefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// owns reports whether key is inside tenant id's namespace,
// "<prefix>:<id>:" or "<prefix>:{<id>}:", without building it.
func (k *Keyspace) owns(key, id string) bool {
	rest, ok := strings.CutPrefix(key, k.prefix)
	if !ok || len(rest) == 0 || rest[0] != ':' {
		return false
	}
	rest = rest[1:]
	if k.hashTags {
		if len(rest) == 0 || rest[0] != '{' {
			return false
		}
		rest = rest[1:]
	}
	if rest, ok = strings.CutPrefix(rest, id); !ok || id == "" {
		return false
	}
	if k.hashTags {
		if len(rest) == 0 || rest[0] != '}' {
			return false
		}
		rest = rest[1:]
	}
	return len(rest) > 0 && rest[0] == ':'
}

// ownerOf returns the tenant whose namespace key lies in, if any.
func (k *Keyspace) ownerOf(key string) string {
	rest, ok := strings.CutPrefix(key, k.prefix+":")
	if !ok {
		return ""
	}
	if k.hashTags {
		if !strings.HasPrefix(rest, "{") || len(rest) < 38 || rest[37] != '}' {
			return ""
		}
		rest = rest[1:]
	}
	if len(rest) < 36 || tenant.ValidateID(rest[:36]) != nil {
		return ""
	}
	return rest[:36]
}

func (r rule) String() string {
	switch r {
	case ruleKeys:
		return "a keyed command"
	case ruleKeyless:
		return "a keyless command"
	case ruleOptIn:
		return "a keyless command outside the tenant"
	case ruleRefused:
		return "a keyspace-wide or administrative command, always refused"
	case ruleContainer:
		return "a container of subcommands"
	case ruleScript, ruleScriptSHA, ruleFunction, ruleScriptLoad, ruleScriptExists:
		return "a script command, allowed only for trusted scripts"
	case ruleSort:
		return "SORT, checked with its patterns"
	case ruleTracking:
		return "CLIENT TRACKING, checked by option"
	}
	return "unknown"
}

// arg returns args[i], or nil past the end.
func arg(args []any, i int) any {
	if i < len(args) {
		return args[i]
	}
	return nil
}

// argString returns the text go-redis writes for an argument of a type
// it writes as text: string, *string, []byte, net.IP, time.Time,
// encoding.BinaryMarshaler, and nil (written as ""). The Guard must read
// each argument exactly as Redis receives it: a keyword, key or pattern it
// did not read would let the keys after it through unchecked. It reports
// false for numbers (see argNumber) and for what go-redis cannot write,
// including a BinaryMarshaler that fails.
func argString(a any) (string, bool) {
	switch v := a.(type) {
	case string:
		return v, true
	case []byte:
		return string(v), true
	case nil:
		return "", true
	case *string:
		if v == nil {
			return "", true
		}
		return *v, true
	case net.IP:
		return string(v), true
	case time.Time:
		return v.Format(time.RFC3339Nano), true
	case *time.Time:
		if v == nil {
			return time.Time{}.Format(time.RFC3339Nano), true
		}
		return v.Format(time.RFC3339Nano), true
	case encoding.BinaryMarshaler:
		b, err := v.MarshalBinary()
		return string(b), err == nil
	}
	return "", false
}

// argNumber reports whether go-redis writes a as a number (an integer, a
// float, a bool as 0 or 1, a duration in nanoseconds, or a pointer to one
// of them). A number spells no keyword and no key in a tenant's namespace,
// so where the Guard looks for those it may pass over a number; anything
// that is neither text (argString) nor a number is refused there.
func argNumber(a any) bool {
	switch a.(type) {
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, uintptr,
		float32, float64, bool, time.Duration,
		*int, *int8, *int16, *int32, *int64, *uint, *uint8, *uint16, *uint32, *uint64, *uintptr,
		*float32, *float64, *bool, *time.Duration:
		return true
	}
	return false
}

// argText is argString for the places where the Guard scans arguments for
// a keyword, a pattern or a foreign key: it reports ok=false for a number
// (which can be none of them) and an error for an argument it cannot read.
func argText(name string, i int, a any) (s string, ok bool, err error) {
	if s, ok := argString(a); ok {
		return s, true, nil
	}
	if argNumber(a) {
		return "", false, nil
	}
	return "", false, fmt.Errorf("%w: %s: argument %d is a %T, which the guard cannot read", ErrCommand, name, i, a)
}

// argInt reads a key count the way go-redis writes it.
func argInt(a any) (int, bool) {
	switch v := a.(type) {
	case int:
		return v, true
	case int8:
		return int(v), true
	case int16:
		return int(v), true
	case int32:
		return int(v), true
	case int64:
		return int(v), int64(int(v)) == v
	case uint8:
		return int(v), true
	case uint16:
		return int(v), true
	case uint32:
		return int(v), uint64(v) <= uint64(^uint(0)>>1)
	case uint:
		return int(v), v <= ^uint(0)>>1
	case uint64:
		return int(v), v <= uint64(^uint(0)>>1)
	case string, []byte:
		s, _ := argString(v)
		n, err := strconv.Atoi(s)
		return n, err == nil
	}
	return 0, false
}

// lowerASCII lower-cases a command name as Redis compares it (ASCII
// only); a name with other bytes is no command and is refused.
func lowerASCII(s string) (string, bool) {
	upper := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 || c < 0x20 {
			return "", false
		}
		if 'A' <= c && c <= 'Z' {
			upper = true
		}
	}
	if !upper {
		return s, true
	}
	return strings.ToLower(s), true
}

// equalFoldASCII compares an argument a with a keyword b as Redis's
// strcasecmp does: ASCII case folded, and a stops at its first NUL, so
// "STREAMS\x00…" is STREAMS to Redis and to the Guard.
func equalFoldASCII(a, b string) bool {
	if i := strings.IndexByte(a, 0); i >= 0 {
		a = a[:i]
	}
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

func sha1Hex(body string) string {
	sum := sha1.Sum([]byte(body))
	return hex.EncodeToString(sum[:])
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
