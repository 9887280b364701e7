package ratelimit_test

import (
	"testing"

	"github.com/tenantwall/tenantwall/internal/testenv"
	"github.com/tenantwall/tenantwall/ratelimit"
	"github.com/tenantwall/tenantwall/ratelimit/ratelimittest"
)

func TestMemoryStoreConformance(t *testing.T) {
	t.Parallel()
	ratelimittest.RunStoreTests(t, func(t *testing.T) ratelimit.Store {
		s, err := ratelimit.NewMemoryStore()
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestRedisStoreConformance(t *testing.T) {
	t.Parallel()
	rdb := testenv.Redis(t)
	ratelimittest.RunStoreTests(t, func(t *testing.T) ratelimit.Store {
		s, err := ratelimit.NewRedisStore(rdb)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
