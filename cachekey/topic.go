package cachekey

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// MaxTopicMessage is the longest message a Topic carries, in bytes.
const MaxTopicMessage = 1024

// Topic carries short messages of one kind (such as resolve's cache
// invalidations) from each process sharing the Keyspace's Redis to all
// of them, with the guarantees of generation bumps: pub/sub delivers a
// message at once, and the invalidation log delivers one that pub/sub
// lost within the refresh interval (WithRefresh). When a process cannot
// know which messages it missed (it fell more than the log's length
// behind, Redis lost data, or it has just started), the Topic calls its
// lost function instead: the listener must then assume anything changed.
//
// A message may be delivered more than once, and a process receives its
// own; listeners must be idempotent. Messages are text the Keyspace does
// not interpret: a listener must validate them as outside input.
//
// A Topic is safe for concurrent use and lives as long as its Keyspace.
// It satisfies resolve.Peers.
type Topic struct {
	k    *Keyspace
	name string

	mu          sync.Mutex
	apply       func(msg string)
	lost        func()
	lostPending bool // lost before Listen: call it at once
}

// Topic returns the Keyspace's topic called name (1 to 32 of a-z, 0-9,
// '-'), the same value on every call. A memory Keyspace has no other
// processes to reach: it returns an error wrapping ErrConfig.
func (k *Keyspace) Topic(name string) (*Topic, error) {
	if k.client == nil {
		return nil, fmt.Errorf("%w: Topic(%q): a memory Keyspace reaches no other process", ErrConfig, name)
	}
	if !validTopic(name) {
		return nil, fmt.Errorf("%w: Topic(%q): want 1 to 32 of a-z, 0-9, '-'", ErrConfig, name)
	}
	k.topicsMu.Lock()
	defer k.topicsMu.Unlock()
	if t := k.topics[name]; t != nil {
		return t, nil
	}
	t := &Topic{k: k, name: name}
	k.topics[name] = t
	return t, nil
}

func validTopic(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// Publish sends msg (at most MaxTopicMessage bytes) to every process's
// listener. It returns once the message is in Redis's log; an error means
// it may not have reached the others (they still catch up within the TTL
// of whatever they cached, which is the listener's fallback).
func (t *Topic) Publish(ctx context.Context, msg string) error {
	if len(msg) > MaxTopicMessage {
		return fmt.Errorf("%w: topic %s: message of %d bytes (at most %d)", ErrConfig, t.name, len(msg), MaxTopicMessage)
	}
	k := t.k
	ctx = internal(ctx)
	n, err := k.appendLog(ctx, "c", t.name, "m", msg)
	if err != nil {
		return fmt.Errorf("cachekey: topic %s: %w", t.name, err)
	}
	// This process's listener has the message already (the publisher
	// applies its own change): mark it delivered here.
	k.markDelivered(n)
	k.publishRaw(ctx, "@"+strconv.FormatUint(n, 10)+" "+t.name+" "+msg)
	return nil
}

// Listen sets the functions called with every message published on the
// topic by any process, this one included, and when messages may have
// been lost. They run one at a time on the Keyspace's goroutines and must
// not block. A later call replaces them.
func (t *Topic) Listen(apply func(msg string), lost func()) {
	t.mu.Lock()
	t.apply, t.lost = apply, lost
	call := t.lostPending && lost != nil
	t.lostPending = false
	t.mu.Unlock()
	if call {
		lost()
	}
}

func (t *Topic) deliver(msg string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.apply != nil {
		t.apply(msg)
	}
}

func (t *Topic) signalLost() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.lost == nil {
		t.lostPending = true
		return
	}
	t.lost()
}

// deliver hands entry n of the log, or a pub/sub message carrying it, to
// its topic, once.
func (k *Keyspace) deliver(n uint64, topic, msg string) {
	if k.inStep.Load() && n <= k.lastSeq.Load() {
		return
	}
	k.topicsMu.Lock()
	if _, done := k.delivered[n]; done {
		k.topicsMu.Unlock()
		return
	}
	k.delivered[n] = struct{}{}
	t := k.topics[topic]
	k.topicsMu.Unlock()
	if t != nil {
		t.deliver(msg)
	}
}

func (k *Keyspace) markDelivered(n uint64) {
	k.topicsMu.Lock()
	defer k.topicsMu.Unlock()
	k.delivered[n] = struct{}{}
}

// pruneDelivered forgets entries the log follower has passed.
func (k *Keyspace) pruneDelivered(upTo uint64) {
	k.topicsMu.Lock()
	defer k.topicsMu.Unlock()
	for n := range k.delivered {
		if n <= upTo {
			delete(k.delivered, n)
		}
	}
}

func (k *Keyspace) lostTopics() {
	k.topicsMu.Lock()
	ts := make([]*Topic, 0, len(k.topics))
	for _, t := range k.topics {
		ts = append(ts, t)
	}
	k.topicsMu.Unlock()
	for _, t := range ts {
		t.signalLost()
	}
}

// topicMessage parses a pub/sub message "@<n> <topic> <msg>".
func topicMessage(payload string) (n uint64, topic, msg string, ok bool) {
	rest, ok := strings.CutPrefix(payload, "@")
	if !ok {
		return 0, "", "", false
	}
	ns, rest, ok1 := strings.Cut(rest, " ")
	topic, msg, ok2 := strings.Cut(rest, " ")
	n, err := strconv.ParseUint(ns, 10, 64)
	if !ok1 || !ok2 || err != nil || n == 0 || !validTopic(topic) || len(msg) > MaxTopicMessage {
		return 0, "", "", false
	}
	return n, topic, msg, true
}
