package cachekey_test

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/tenantwall/tenantwall/cachekey"
)

// PUBLISH is keyless, but the Keyspace listens on "<prefix>:generations":
// a message there sets a tenant's generation in every process. Allowing
// PUBLISH for the application's own channels must not let a tenant (whose
// input names a channel) publish there or on another tenant's channels.
func TestGuardKeepsPublishOutOfTheKeyspaceChannels(t *testing.T) {
	f := newGuardFixture(t, cachekey.WithKeylessCommands("PUBLISH", "SPUBLISH"))
	forged := f.b.ID + " " + strconv.FormatUint(^uint64(0), 10)
	refused := []struct {
		name string
		args []any
	}{
		{"PUBLISH of a forged generation of B on the invalidation channel", []any{"publish", "tw:generations", forged}},
		{"PUBLISH on the invalidation channel in upper case command", []any{"PUBLISH", "tw:generations", forged}},
		{"SPUBLISH on the invalidation channel", []any{"spublish", "tw:generations", forged}},
		{"PUBLISH on the invalidation channel given as bytes", []any{"publish", []byte("tw:generations"), forged}},
		{"PUBLISH on a channel in B's namespace", []any{"publish", f.nsB + "events", "x"}},
		{"PUBLISH on any channel under the Keyspace prefix", []any{"publish", "tw:anything", "x"}},
		{"PUBLISH on a channel that is not text", []any{"publish", struct{}{}, "x"}},
		{"PUBLISH without a channel", []any{"publish"}},
	}
	for _, c := range refused {
		t.Run(c.name+" is refused", func(t *testing.T) {
			assert.Error(t, f.guarded.Do(f.ctxA, c.args...).Err())
		})
	}
	t.Run("PUBLISH on the tenant's own and on the application's channels runs", func(t *testing.T) {
		assert.NoError(t, f.guarded.Do(f.ctxA, "publish", f.nsA+"events", "x").Err())
		assert.NoError(t, f.guarded.Do(f.ctxA, "publish", "app:events", "x").Err())
		assert.NoError(t, f.guarded.Do(f.ctxA, "publish", "tw", "x").Err())
	})
}

// A tenant's generation counter is outside its namespace: a tenant that
// could reset it would make every process take it for a loss of Redis's
// data and drop every tenant's cache.
func TestGuardKeepsTenantsOffTheirGenerationCounter(t *testing.T) {
	f := newGuardFixture(t)
	gen := cachekey.GenKey(f.ks, f.a.ID)
	for _, args := range [][]any{{"del", gen}, {"set", gen, "0"}, {"incrby", gen, "-5"}, {"unlink", gen}, {"get", gen}} {
		t.Run(args[0].(string)+" of the tenant's own counter is refused", func(t *testing.T) {
			assert.Error(t, f.guarded.Do(f.ctxA, args...).Err())
		})
	}
	assert.NotContains(t, gen, f.nsA, "the counter is not in the tenant's namespace")
}

// The invalidation log and its counter carry every Topic message (such as
// resolve's "h <host>" and "t <tenant>") and every bump: a tenant that
// could write there would poison every process's resolver cache or freeze
// another tenant's generation, and one that could read it would learn the
// other tenants' hosts and IDs.
func TestGuardKeepsTenantsFromReadingOrMovingOntoTheInvalidationLog(t *testing.T) {
	f := newGuardFixture(t)
	log, seq := cachekey.LogKeys(f.ks)
	for _, args := range [][]any{
		{"xadd", log, "99999999-0", "c", "resolve", "m", "h crm.acme.test"},
		{"xrange", log, "-", "+"},
		{"xrevrange", log, "+", "-", "count", "1"},
		{"xread", "streams", log, "0"},
		{"set", seq, "99999999"},
		{"get", seq},
		{"rename", f.nsA + "x", log},
		{"copy", f.nsA + "x", seq, "replace"},
	} {
		t.Run(args[0].(string)+" "+args[1].(string)+" is refused", func(t *testing.T) {
			assert.Error(t, f.guarded.Do(f.ctxA, args...).Err())
		})
	}
}
