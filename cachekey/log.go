package cachekey

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// The invalidation log makes the cost of staying fresh follow the rate of
// invalidations, not the number of tenants a process knows.
//
// Every bump (and every Topic message) is appended to one Redis stream,
// "<prefix>:{<prefix>}:log", under a sequence number taken from the
// counter "<prefix>:{<prefix>}:seq" in the same script: entry n has the
// stream ID "n-0", so a follower can tell a gap from an idle log. The two
// keys share a hash tag, so the script runs on one node of a cluster; a
// tenant namespace can never be that tag (tenant IDs are UUIDs). The
// stream is trimmed to about logLen entries.
//
// Each refresh interval a process reads, in one pipeline, the epoch, the
// counter and the entries after the last one it applied: three commands
// whatever the number of tenants. When the entries it needs are gone (it
// was away for more than logLen invalidations, or Redis lost the log), it
// falls back to one full refresh — the counter first, then every cached
// generation in pipelines of 1,000 — and follows the log again from the
// counter it read. Pub/sub still delivers each bump at once; the log
// repairs a lost message within one refresh interval.

// logLen is about how many entries the log keeps (XADD MAXLEN ~): a
// process more than this many invalidations behind refreshes in full.
const logLen = 10_000

// logBatch is how many entries one read of the log asks for; a follower
// further behind reads again at once, up to logRounds reads per tick.
const (
	logBatch  = 1000
	logRounds = 100
)

// appendLua appends one entry to the log (KEYS[logK]) under the next value
// of the counter (KEYS[seqK]), leaving its number in n. A counter found
// below the log's last entry (it was evicted or lost alone) is moved past
// it, so an append never fails for good.
const appendLua = `
local n = redis.call('INCR', KEYS[seqK])
local last = redis.call('XREVRANGE', KEYS[logK], '+', '-', 'COUNT', 1)[1]
if last then
	local ls = tonumber(string.match(last[1], '^(%d+)'))
	if ls and ls >= n then
		n = ls + 1
		redis.call('SET', KEYS[seqK], n)
	end
end
`

// appendScript adds one entry to the log (KEYS[1], counter KEYS[2]) and
// returns its number. ARGV[1] is the trim length, the rest the entry's
// field/value pairs.
var appendScript = redis.NewScript(`local logK, seqK = 1, 2` + appendLua + `
redis.call('XADD', KEYS[logK], 'MAXLEN', '~', ARGV[1], n .. '-0', unpack(ARGV, 2))
return n`)

// bumpScript is a whole bump in one round trip, for a client of one
// server (on a cluster its keys are in different slots, on a Ring on
// different shards): it reads the epoch (KEYS[1]), increments the
// generation (KEYS[2]) and, when there is an epoch, appends the bump to
// the log (KEYS[3], counter KEYS[4]) under it. ARGV: the trim length, the
// tenant ID. It returns {epoch or nil, the new generation}.
var bumpScript = redis.NewScript(`local logK, seqK = 3, 4
local ep = redis.call('GET', KEYS[1])
local v = redis.call('INCR', KEYS[2])
if ep then` + appendLua + `
	redis.call('XADD', KEYS[logK], 'MAXLEN', '~', ARGV[1], n .. '-0', 't', ARGV[2], 'e', ep, 'g', v)
end
return {ep, v}`)

func (k *Keyspace) logKey() string { return k.prefix + ":{" + k.prefix + "}:log" }
func (k *Keyspace) seqKey() string { return k.prefix + ":{" + k.prefix + "}:seq" }

// appendLog writes one entry and returns its sequence number.
func (k *Keyspace) appendLog(ctx context.Context, fields ...string) (uint64, error) {
	args := make([]any, 0, 1+len(fields))
	args = append(args, logLen)
	for _, f := range fields {
		args = append(args, f)
	}
	n, err := appendScript.Run(ctx, k.client, []string{k.logKey(), k.seqKey()}, args...).Uint64()
	if err != nil {
		return 0, err
	}
	return n, nil
}

// entrySeq reads an entry's sequence number from its stream ID, "n-0".
func entrySeq(id string) (uint64, bool) {
	s, rest, ok := strings.Cut(id, "-")
	if !ok || rest != "0" {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil && n > 0
}

// follow brings this process up to date with the log; it runs on the
// refresher's goroutine only.
func (k *Keyspace) follow(ctx context.Context) {
	if !k.inStep.Load() {
		k.fullRefresh(ctx)
		return
	}
	for range logRounds {
		g := k.gens.Load()
		last := k.lastSeq.Load()
		var ep, sq *redis.StringCmd
		var xr *redis.XMessageSliceCmd
		// The counter is read before the entries, on the same node, so
		// every entry it counts is either returned or was trimmed.
		_, err := k.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			ep = p.Get(ctx, k.epochKey())
			sq = p.Get(ctx, k.seqKey())
			xr = p.XRangeN(ctx, k.logKey(), strconv.FormatUint(last+1, 10)+"-0", "+", logBatch)
			return nil
		})
		if err != nil && !errors.Is(err, redis.Nil) {
			if ctx.Err() == nil {
				k.log.Warn("cachekey: follow the invalidation log", "err", err)
			}
			return
		}
		seen, found, err := readEpoch(ep)
		if err != nil {
			if ctx.Err() == nil {
				k.log.Warn("cachekey: follow the invalidation log: epoch", "err", err)
			}
			return
		}
		if !found || seen != g.epoch {
			if _, err := k.settle(ctx, seen, found); err != nil {
				if ctx.Err() == nil {
					k.log.Warn("cachekey: follow the invalidation log: epoch", "err", err)
				}
				return
			}
			// A new epoch has invalidated every generation; what else
			// was lost with it, the full refresh makes good.
			k.fullRefresh(ctx)
			return
		}
		seq, err := sq.Uint64()
		if errors.Is(err, redis.Nil) {
			seq, err = 0, nil
		}
		entries, xerr := xr.Result()
		if err != nil || (xerr != nil && !errors.Is(xerr, redis.Nil)) {
			k.log.Warn("cachekey: unreadable invalidation log", "err", errors.Join(err, xerr))
			k.fullRefresh(ctx)
			return
		}
		switch {
		case seq < last:
			// The counter went down: Redis lost writes, bumps among them.
			k.log.Warn("cachekey: the invalidation log went back: Redis lost writes", "was", last, "now", seq)
			if _, err := k.retire(ctx, g.epoch); err != nil && ctx.Err() == nil {
				k.log.Warn("cachekey: refresh epoch", "err", err)
			}
			k.inStep.Store(false)
			return
		case len(entries) == 0 && seq > last:
			k.fullRefresh(ctx) // trimmed past us, or the log was lost
			return
		case len(entries) == 0:
			return // idle
		}
		if n, ok := entrySeq(entries[0].ID); !ok || n != last+1 {
			k.fullRefresh(ctx) // fell behind: the entries we need were trimmed
			return
		}
		for _, e := range entries {
			n, ok := entrySeq(e.ID)
			if !ok {
				k.fullRefresh(ctx)
				return
			}
			k.applyEntry(g, n, e.Values)
			k.lastSeq.Store(n)
		}
		k.pruneDelivered(k.lastSeq.Load())
		if len(entries) < logBatch {
			return
		}
	}
}

// applyEntry applies one log entry: a bump of a cached tenant's
// generation, or a Topic message not yet delivered by pub/sub.
func (k *Keyspace) applyEntry(g *generations, n uint64, v map[string]any) {
	str := func(f string) string { s, _ := v[f].(string); return s }
	if topic := str("c"); topic != "" {
		k.deliver(n, topic, str("m"))
		return
	}
	id, epoch := str("t"), str("e")
	gen, err := strconv.ParseUint(str("g"), 10, 64)
	if err != nil || epoch != g.epoch {
		return // malformed, or of an epoch whose keys are unreachable
	}
	if _, known := g.load(id); known {
		g.observe(id, gen)
	}
}

// fullRefresh re-reads every cached generation and restarts following the
// log at the counter read before them; every Topic is told that messages
// may have been missed. Only this re-reads per tenant: after a start, a
// gap in the log or a change of epoch.
func (k *Keyspace) fullRefresh(ctx context.Context) {
	var sq *redis.StringCmd
	var xr *redis.XMessageSliceCmd
	_, err := k.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		sq = p.Get(ctx, k.seqKey())
		xr = p.XRevRangeN(ctx, k.logKey(), "+", "-", 1)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		if ctx.Err() == nil {
			k.log.Warn("cachekey: read the invalidation log", "err", err)
		}
		return
	}
	base, _ := sq.Uint64()
	if es, _ := xr.Result(); len(es) == 1 {
		if n, ok := entrySeq(es[0].ID); ok {
			base = max(base, n)
		}
	}
	if !k.refreshAll(ctx) {
		return
	}
	k.lastSeq.Store(base)
	k.pruneDelivered(base)
	k.inStep.Store(true)
	k.fullRefreshes.Add(1)
	k.lostTopics()
}
