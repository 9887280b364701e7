package resolve_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/resolve"
)

type countingObserver struct {
	mu                         sync.Mutex
	hits, misses, lookups, bad int
}

func (o *countingObserver) ResolveCache(_ context.Context, hit bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if hit {
		o.hits++
	} else {
		o.misses++
	}
}

func (o *countingObserver) ResolveLookup(_ context.Context, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.lookups++
	if err != nil {
		o.bad++
	}
}

func TestObserverCountsHitsMissesAndLookups(t *testing.T) {
	f := newFixture(t)
	obs := &countingObserver{}
	r := f.resolver(t, resolve.WithObserver(obs))
	ctx := context.Background()
	_, err := r.Resolve(ctx, "acme.app.example.com") // miss, lookup
	require.NoError(t, err)
	_, err = r.Resolve(ctx, "acme.app.example.com") // hit on the raw host
	require.NoError(t, err)
	_, err = r.Resolve(ctx, "ACME.app.example.com") // hit after normalising
	require.NoError(t, err)
	_, err = r.Resolve(ctx, "nobody.app.example.com") // miss, lookup, negative entry
	require.ErrorIs(t, err, resolve.ErrUnknownHost)
	_, err = r.Resolve(ctx, "nobody.app.example.com") // negative hit
	require.ErrorIs(t, err, resolve.ErrUnknownHost)

	f.store.fail.Store(true)
	_, err = r.Resolve(ctx, "globex.app.example.com") // miss, failed lookup
	require.ErrorIs(t, err, resolve.ErrLookup)

	assert.Equal(t, 3, obs.hits)
	assert.Equal(t, 3, obs.misses)
	assert.Equal(t, 3, obs.lookups)
	assert.Equal(t, 1, obs.bad)
}

func TestObserverMustNotBeNil(t *testing.T) {
	_, err := resolve.New(newFixture(t).store, resolve.WithObserver(nil))
	require.ErrorIs(t, err, resolve.ErrConfig)
}
