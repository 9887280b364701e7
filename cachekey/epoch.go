package cachekey

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"

	"github.com/redis/go-redis/v9"
)

// A Redis Keyspace keeps an epoch beside the generations: a random token
// under "<prefix>:epoch", written into every key ("…:e<epoch>:g<gen>:…").
// Generations only mean something while the data that produced them is
// still there: a Redis restarted without persistence, flushed, or failed
// over to a replica that lags counts them from a lower value again, while
// processes still hold the higher ones. The epoch makes that loss visible
// and harmless:
//
//   - the epoch key missing (Redis lost its data, or evicted the key),
//     malformed, or back at an epoch this process has left (a failover
//     undid a change), is replaced by a new random epoch;
//   - a generation read lower than one this process saw earlier under the
//     same epoch (a failover lost writes, or Purge deleted the tenant's
//     counter) retires the epoch the same way;
//   - a process that reads an epoch other than its own drops its whole
//     generation cache and adopts it.
//
// A new epoch makes every key written before it unreachable, for every
// tenant: "every tenant invalidated". Generations do not have to be
// monotonic across epochs, so a counter that went down is harmless once
// the epoch has changed.

// memoryEpoch is a memory Keyspace's epoch: its generations and entries
// live and die together in this process, so it never changes.
const memoryEpoch = "0"

// epochBytes is the entropy of an epoch, written as 8 base64url
// characters: 48 bits make a new epoch equal to one of the few whose keys
// may still exist (within their TTL) a chance of about 2^-48 per change,
// while keeping keys short (the key is the hot path's one allocation).
const epochBytes = 6

// epochLen is the length of an epoch's text.
var epochLen = base64.RawURLEncoding.EncodedLen(epochBytes)

// maxRetired bounds the epochs a process remembers having left.
const maxRetired = 16

func newEpoch() string {
	var b [epochBytes]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// validEpoch reports whether s is an epoch this package writes: exactly
// epochLen base64url characters, none of which a key escapes. Anything
// else in the epoch key is never written into a key.
func validEpoch(s string) bool {
	if len(s) != epochLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func (k *Keyspace) epochKey() string { return k.prefix + ":epoch" }

// rotateScript replaces the epoch key when it is missing or still holds
// the epoch the caller found unusable (ARGV[1]), and returns the epoch to
// use: the new one (ARGV[2]), or the one another process set first.
var rotateScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v or v == ARGV[1] then
	redis.call('SET', KEYS[1], ARGV[2])
	return ARGV[2]
end
return v`)

// settle makes this process use the epoch Redis holds, given a read of
// the epoch key (found false: the key is missing), and returns the
// generations of that epoch.
func (k *Keyspace) settle(ctx context.Context, seen string, found bool) (*generations, error) {
	for range 3 {
		if found && validEpoch(seen) && !k.isRetired(seen) {
			return k.adopt(seen), nil
		}
		v, err := k.rotate(ctx, seen)
		if err != nil {
			return nil, err
		}
		seen, found = v, true
	}
	return nil, fmt.Errorf("%w: %s holds %q", ErrEpoch, k.epochKey(), seen)
}

// retire replaces epoch broken, in which a generation went down, and
// settles on the epoch Redis then holds.
func (k *Keyspace) retire(ctx context.Context, broken string) (*generations, error) {
	k.log.WarnContext(ctx, "cachekey: a generation went down: Redis lost writes; starting a new epoch", "epoch", broken)
	k.remember(broken)
	v, err := k.rotate(ctx, broken)
	if err != nil {
		return nil, err
	}
	return k.settle(ctx, v, true)
}

func (k *Keyspace) rotate(ctx context.Context, unusable string) (string, error) {
	v, err := rotateScript.Run(internal(ctx), k.client, []string{k.epochKey()}, unusable, newEpoch()).Text()
	if err != nil {
		return "", fmt.Errorf("cachekey: replace epoch %s: %w", k.epochKey(), err)
	}
	return v, nil
}

// adopt installs empty generations for epoch e, unless they are already
// in use, and returns the generations in use.
func (k *Keyspace) adopt(e string) *generations {
	for {
		cur := k.gens.Load()
		if cur.epoch == e {
			return cur
		}
		next := newGenerations(k.maxTenants, e)
		if k.gens.CompareAndSwap(cur, next) {
			if cur.epoch == "" {
				// Not a change but the first read of the epoch:
				// invalidations that failed before it must still reach
				// Redis (after a change, the new epoch has invalidated
				// everything). Copied after the swap, so that with
				// markPending none is missed.
				for _, id := range cur.pendingIDs() {
					next.setPending(id)
				}
			}
			if cur.epoch != "" {
				k.remember(cur.epoch)
				k.log.Warn("cachekey: Redis epoch changed: every tenant's cached entries dropped",
					"from", cur.epoch, "to", e)
			}
			return next
		}
	}
}

// markPending records that tenant id's invalidation did not reach Redis,
// in g (the generations the bump started from) and, if g was the
// generations of the unknown epoch, in those that replaced it.
func (k *Keyspace) markPending(g *generations, id string) {
	g.setPending(id)
	if cur := k.gens.Load(); cur != g && g.epoch == "" {
		cur.setPending(id)
	}
}

// remember records an epoch this process has left: Redis showing it again
// means writes were lost (a failover to a replica that missed the change).
func (k *Keyspace) remember(e string) {
	k.retiredMu.Lock()
	defer k.retiredMu.Unlock()
	if slices.Contains(k.retired, e) {
		return
	}
	if len(k.retired) == maxRetired {
		k.retired = k.retired[1:]
	}
	k.retired = append(k.retired, e)
}

func (k *Keyspace) isRetired(e string) bool {
	k.retiredMu.Lock()
	defer k.retiredMu.Unlock()
	return slices.Contains(k.retired, e)
}

// readEpoch interprets the reply to a GET of the epoch key.
func readEpoch(c *redis.StringCmd) (seen string, found bool, err error) {
	seen, err = c.Result()
	if errors.Is(err, redis.Nil) {
		return "", false, nil
	}
	return seen, err == nil, err
}
