package resolve_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/cachekey"
	"github.com/tenantwall/tenantwall/internal/testenv"
	"github.com/tenantwall/tenantwall/resolve"
	"github.com/tenantwall/tenantwall/tenant"
	"github.com/tenantwall/tenantwall/tenant/tenanttest"
)

// peerResolvers are two Resolvers over one store, as two processes over
// one database, each sharing invalidations through a Keyspace of its own
// on the test Redis (a private prefix, so that other tests' messages do
// not reach them).
func peerResolvers(t *testing.T, f *fixture) (one, two *resolve.Resolver) {
	t.Helper()
	prefix := testenv.Name("rp")
	client := testenv.Redis(t)
	t.Cleanup(func() {
		// The prefix is the test's own: its keys go with it.
		ctx := context.Background()
		it := client.Scan(ctx, 0, prefix+":*", 100).Iterator()
		for it.Next(ctx) {
			client.Del(ctx, it.Val())
		}
	})
	open := func() *resolve.Resolver {
		ks, err := cachekey.New(testenv.Redis(t), cachekey.WithPrefix(prefix), cachekey.WithRefresh(100*time.Millisecond))
		require.NoError(t, err)
		t.Cleanup(func() { ks.Close() })
		topic, err := ks.Topic("resolve")
		require.NoError(t, err)
		return f.resolver(t, resolve.WithPeers(topic))
	}
	return open(), open()
}

// within polls until cond holds and returns how long it took; it fails
// the test after a second.
func within(t *testing.T, cond func() bool, what string) time.Duration {
	t.Helper()
	start := time.Now()
	require.Eventually(t, cond, time.Second, time.Millisecond, what)
	return time.Since(start)
}

func TestPeersSpreadInvalidations(t *testing.T) {
	ctx := context.Background()
	t.Run("a tenant suspended on one process is refused by the other within a second", func(t *testing.T) {
		f := newFixture(t)
		one, two := peerResolvers(t, f)
		for _, r := range []*resolve.Resolver{one, two} {
			_, err := r.Resolve(ctx, "acme.app.example.com")
			require.NoError(t, err, "both processes cache acme first")
		}
		suspended := f.acme
		suspended.Status = tenant.StatusSuspended
		require.NoError(t, f.store.Update(ctx, suspended))
		require.NoError(t, one.InvalidateTenant(f.acme.ID))
		took := within(t, func() bool {
			_, err := two.Resolve(ctx, "acme.app.example.com")
			return errors.Is(err, resolve.ErrSuspended)
		}, "the other process still serves a suspended tenant")
		t.Logf("refused by the other process after %v", took)
		_, err := one.Resolve(ctx, "acme.app.example.com")
		assert.ErrorIs(t, err, resolve.ErrSuspended, "the process that invalidated refuses at once")
	})
	t.Run("a domain removed on one process stops being served by the other", func(t *testing.T) {
		f := newFixture(t)
		one, two := peerResolvers(t, f)
		_, err := two.Resolve(ctx, f.acmeDomain)
		require.NoError(t, err)
		require.NoError(t, f.store.PutDomain(ctx, tenant.Domain{Host: f.acmeDomain, TenantID: f.acme.ID, Status: tenant.DomainRemoved}))
		require.NoError(t, one.InvalidateHost("CRM.ACME.TEST."))
		within(t, func() bool {
			_, err := two.Resolve(ctx, f.acmeDomain)
			return errors.Is(err, resolve.ErrUnknownHost)
		}, "the other process still serves a removed domain")
	})
	t.Run("a domain re-pointed on one process resolves to its new tenant on the other", func(t *testing.T) {
		f := newFixture(t)
		one, two := peerResolvers(t, f)
		got, err := two.Resolve(ctx, f.acmeDomain)
		require.NoError(t, err)
		require.Equal(t, f.acme.ID, got.ID)
		require.NoError(t, f.store.DeleteDomain(ctx, f.acmeDomain))
		require.NoError(t, f.store.PutDomain(ctx, tenant.Domain{Host: f.acmeDomain, TenantID: f.globex.ID, Status: tenant.DomainActive}))
		require.NoError(t, one.InvalidateHost(f.acmeDomain))
		within(t, func() bool {
			got, err := two.Resolve(ctx, f.acmeDomain)
			return err == nil && got.ID == f.globex.ID
		}, "the other process still maps the domain to its old tenant")
	})
	t.Run("a new tenant hidden by a cached negative answer appears on the other", func(t *testing.T) {
		f := newFixture(t)
		one, two := peerResolvers(t, f)
		_, err := two.Resolve(ctx, "initech.app.example.com")
		require.ErrorIs(t, err, resolve.ErrUnknownHost)
		nt := tenanttest.NewTenant("initech")
		require.NoError(t, f.store.Create(ctx, nt))
		require.NoError(t, one.InvalidateTenant(nt.ID))
		within(t, func() bool {
			got, err := two.Resolve(ctx, "initech.app.example.com")
			return err == nil && got.ID == nt.ID
		}, "the other process still answers its cached 'unknown'")
	})
}

// busPeers is an in-process Peers that hands every message to every
// listener; it lets a test send what a hostile writer to Redis could.
type busPeers struct {
	mu    sync.Mutex
	apply []func(string)
	lost  []func()
}

func (b *busPeers) Publish(_ context.Context, msg string) error {
	b.mu.Lock()
	fs := append([]func(string){}, b.apply...)
	b.mu.Unlock()
	for _, f := range fs {
		f(msg)
	}
	return nil
}

func (b *busPeers) Listen(apply func(string), lost func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.apply, b.lost = append(b.apply, apply), append(b.lost, lost)
}

type failingPeers struct{}

func (failingPeers) Publish(context.Context, string) error { return errors.New("redis down") }
func (failingPeers) Listen(func(string), func())           {}

func TestPeerMessagesAreOutsideInput(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	bus := &busPeers{}
	audit := &tenanttest.AuditRecorder{}
	r := f.resolver(t, resolve.WithPeers(bus), resolve.WithAuditor(audit))
	warm := func() {
		t.Helper()
		for _, h := range []string{"acme.app.example.com", "globex.app.example.com", f.acmeDomain} {
			_, err := r.Resolve(ctx, h)
			require.NoError(t, err)
		}
		require.Equal(t, 3, resolve.CacheLen(r))
	}
	hostile := []string{
		"", " ", "h ", "t ", "**", "* ", "x acme.app.example.com",
		"h ACME.app.example.com", "h acme.app.example.com.", "h acme.app.example.com:443", "h 10.0.0.1",
		"h acme.app.example.com\n", "t " + strings.ToUpper(f.acme.ID), "t " + f.acme.ID + " ", "t not-an-id",
		"h  acme.app.example.com", "H acme.app.example.com",
	}
	for _, msg := range hostile {
		t.Run("the message "+strings.ReplaceAll(msgName(msg), "/", "∕")+" drops the whole cache and is audited", func(t *testing.T) {
			warm()
			before := len(audit.Events())
			require.NoError(t, bus.Publish(ctx, msg))
			assert.Equal(t, 0, resolve.CacheLen(r))
			require.Len(t, audit.Events(), before+1)
			assert.ErrorIs(t, audit.Events()[before].Err, resolve.ErrPeers)
		})
	}
	t.Run("a well-formed message drops only what it names", func(t *testing.T) {
		warm()
		require.NoError(t, bus.Publish(ctx, "h "+f.acmeDomain))
		assert.Equal(t, 2, resolve.CacheLen(r))
		require.NoError(t, bus.Publish(ctx, "t "+f.globex.ID))
		assert.Equal(t, 1, resolve.CacheLen(r))
	})
	t.Run("a lost-messages signal drops the whole cache", func(t *testing.T) {
		warm()
		bus.lost[0]()
		assert.Equal(t, 0, resolve.CacheLen(r))
	})
	t.Run("a failed publication is reported and the local change still made", func(t *testing.T) {
		r := f.resolver(t, resolve.WithPeers(failingPeers{}))
		_, err := r.Resolve(ctx, "acme.app.example.com")
		require.NoError(t, err)
		assert.ErrorIs(t, r.InvalidateTenant(f.acme.ID), resolve.ErrPeers)
		assert.Equal(t, 0, resolve.CacheLen(r))
	})
	t.Run("a malformed tenant ID is refused before anything is sent", func(t *testing.T) {
		assert.ErrorIs(t, r.InvalidateTenant("acme"), tenant.ErrInvalidID)
		assert.Error(t, r.InvalidateHost("bad host"))
	})
	t.Run("WithPeers(nil) is refused", func(t *testing.T) {
		_, err := resolve.New(f.store, resolve.WithPeers(nil))
		assert.ErrorIs(t, err, resolve.ErrConfig)
	})
}

func msgName(s string) string {
	if s == "" {
		return "(empty)"
	}
	return strings.NewReplacer(" ", "␠", "\n", "␤").Replace(s)
}

func FuzzPeerMessage(f *testing.F) {
	for _, s := range []string{"*", "h acme.app.example.com", "t " + tenant.NewID(), "h xn--bcher-kva.example", "h ", "t x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		back, ok := resolve.ParseMessage(msg)
		if !ok {
			return
		}
		// Only the exact canonical forms are understood.
		if back != msg {
			t.Fatalf("%q understood as %q", msg, back)
		}
	})
}
