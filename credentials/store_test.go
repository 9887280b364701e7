package credentials_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/credentials"
	"github.com/tenantwall/tenantwall/credentials/credentialstest"
)

func TestMemStore(t *testing.T) {
	credentialstest.RunStoreTests(t, func(t *testing.T) credentials.Store { return credentials.NewMemStore() })
}

// conflictStore wraps a MemStore and fails every Put with err, counting
// the attempts.
type conflictStore struct {
	*credentials.MemStore
	err  error
	puts atomic.Int32
}

func (s *conflictStore) Put(context.Context, credentials.Row) error {
	s.puts.Add(1)
	return s.err
}

func TestSetRetriesOnlyLostRacesAndGivesUp(t *testing.T) {
	for _, tc := range []struct {
		name     string
		err      error
		want     error
		minTries int32
		maxTries int32
	}{
		{"a version taken by a concurrent Set is retried, a bounded number of times", fmt.Errorf("%w: openai v1", credentials.ErrVersionExists), credentials.ErrVersionExists, 2, 64},
		{"any other store error is returned at once", errors.New("disk full"), nil, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &conflictStore{MemStore: credentials.NewMemStore(), err: tc.err}
			v := newVault(t, s)
			ctxA, _, _, _ := two()
			_, err := v.Set(ctxA, "openai", "sk")
			require.Error(t, err)
			if tc.want != nil {
				assert.ErrorIs(t, err, tc.want)
			}
			assert.GreaterOrEqual(t, s.puts.Load(), tc.minTries)
			assert.LessOrEqual(t, s.puts.Load(), tc.maxTries)
		})
	}
}
