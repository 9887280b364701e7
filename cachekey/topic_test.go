package cachekey_test

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
)

// inbox records what a Topic listener was given.
type inbox struct {
	mu   sync.Mutex
	msgs []string
	lost int
}

func (b *inbox) apply(m string) { b.mu.Lock(); b.msgs = append(b.msgs, m); b.mu.Unlock() }
func (b *inbox) lostAll()       { b.mu.Lock(); b.lost++; b.mu.Unlock() }
func (b *inbox) count(m string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, x := range b.msgs {
		if x == m {
			n++
		}
	}
	return n
}
func (b *inbox) lostCount() int { b.mu.Lock(); defer b.mu.Unlock(); return b.lost }

// dropPrefix deletes, when the test ends, every key under a test's own
// prefix on the shared server.
func dropPrefix(t *testing.T, prefix string) {
	t.Helper()
	client := testenv.Redis(t)
	t.Cleanup(func() {
		ctx := context.Background()
		it := client.Scan(ctx, 0, prefix+":*", 100).Iterator()
		for it.Next(ctx) {
			client.Del(ctx, it.Val())
		}
	})
}

func listen(t *testing.T, ks *cachekey.Keyspace, name string) (*cachekey.Topic, *inbox) {
	t.Helper()
	topic, err := ks.Topic(name)
	require.NoError(t, err)
	b := &inbox{}
	topic.Listen(b.apply, b.lostAll)
	return topic, b
}

func TestTopicDeliversToEveryProcessOnce(t *testing.T) {
	prefix := testenv.Name("tp")
	dropPrefix(t, prefix)
	sender := newKeyspace(t, testenv.Redis(t), cachekey.WithPrefix(prefix), cachekey.WithRefresh(20*time.Millisecond))
	receiver := newKeyspace(t, testenv.Redis(t), cachekey.WithPrefix(prefix), cachekey.WithRefresh(20*time.Millisecond))
	lossy := newKeyspace(t, testenv.Redis(t), cachekey.WithPrefix(prefix), cachekey.WithRefresh(20*time.Millisecond))
	cachekey.DropMessages(lossy, true)
	out, own := listen(t, sender, "resolve")
	_, in := listen(t, receiver, "resolve")
	_, fromLog := listen(t, lossy, "resolve")
	_, other := listen(t, receiver, "other")
	for _, ks := range []*cachekey.Keyspace{sender, receiver, lossy} {
		require.Eventually(t, func() bool { return cachekey.FullRefreshes(ks) > 0 }, 5*time.Second, time.Millisecond)
	}

	require.NoError(t, out.Publish(context.Background(), "t 42"))
	require.Eventually(t, func() bool { return in.count("t 42") == 1 }, time.Second, time.Millisecond, "pub/sub delivers at once")
	require.Eventually(t, func() bool { return fromLog.count("t 42") == 1 }, time.Second, time.Millisecond,
		"a process that lost the pub/sub message gets it from the log")
	// Let every follower pass the entry: nothing is delivered twice, and
	// the publisher's listener is not called back with its own message.
	require.Eventually(t, func() bool {
		return cachekey.LastApplied(sender) >= 1 && cachekey.LastApplied(receiver) >= 1 && cachekey.LastApplied(lossy) >= 1
	}, time.Second, time.Millisecond)
	assert.Equal(t, 1, in.count("t 42"))
	assert.Equal(t, 1, fromLog.count("t 42"))
	assert.Equal(t, 0, own.count("t 42"))
	assert.Equal(t, 0, other.count("t 42"), "another topic hears nothing")
}

func TestTopicSignalsLostMessages(t *testing.T) {
	prefix := testenv.Name("tp")
	dropPrefix(t, prefix)
	client := testenv.Redis(t)
	ks := newKeyspace(t, client, cachekey.WithPrefix(prefix), cachekey.WithRefresh(20*time.Millisecond))
	cachekey.DropMessages(ks, true)
	_, b := listen(t, ks, "resolve")
	require.Eventually(t, func() bool { return b.lostCount() == 1 }, 5*time.Second, time.Millisecond,
		"a process that just started cannot know what it missed")
	// A message whose log entry is gone before the process reads it.
	_, seqKey := cachekey.LogKeys(ks)
	require.NoError(t, client.Incr(context.Background(), seqKey).Err())
	require.Eventually(t, func() bool { return b.lostCount() == 2 }, time.Second, time.Millisecond)
}

func TestTopicRefusesWhatItCannotCarry(t *testing.T) {
	prefix := testenv.Name("tp")
	dropPrefix(t, prefix)
	ks := newKeyspace(t, testenv.Redis(t), cachekey.WithPrefix(prefix))
	for _, name := range []string{"", "Resolve", "a b", "a:b", "{x}", strings.Repeat("a", 33)} {
		_, err := ks.Topic(name)
		assert.ErrorIs(t, err, cachekey.ErrConfig, "topic %q", name)
	}
	topic, err := ks.Topic("resolve")
	require.NoError(t, err)
	assert.ErrorIs(t, topic.Publish(context.Background(), strings.Repeat("x", cachekey.MaxTopicMessage+1)), cachekey.ErrConfig)
	mem, err := cachekey.NewMemory()
	require.NoError(t, err)
	_, err = mem.Topic("resolve")
	assert.ErrorIs(t, err, cachekey.ErrConfig, "a memory Keyspace reaches no other process")
}

func TestGuardKeepsTenantsOffTheInvalidationLog(t *testing.T) {
	f := newGuardFixture(t)
	logKey, seqKey := cachekey.LogKeys(f.ks)
	for _, cmd := range [][]any{
		{"xadd", logKey, "*", "c", "resolve", "m", "*"},
		{"xtrim", logKey, "MAXLEN", 0},
		{"del", logKey},
		{"incr", seqKey},
		{"set", seqKey, "0"},
	} {
		err := f.guarded.Do(f.ctxA, cmd...).Err()
		assert.True(t, errors.Is(err, cachekey.ErrForeignKey) || errors.Is(err, cachekey.ErrCommand), "%v: %v", cmd, err)
	}
}
