package redisview

import (
	"sync"
)

// The state cache keeps, per partition, the stored state (position guard and
// entity hashes) of the aggregates this process applied last, so that a batch
// whose aggregates are all cached needs no read before its script.
//
// It is only a way to skip a read, never a source of truth: every step still
// checks each aggregate's stored position in the script, and the cache of a
// partition is used only while nothing but this process can have written it:
//
//   - it belongs to one topic and is used only by a batch that starts at the
//     offset this process's last step on it stored (From); any other
//     writer's step moves that offset, and the batch is then either fenced or
//     starts elsewhere (the cache is dropped);
//   - the one kind of write that does not move the offset is a drop chunk of
//     a snapshot end or a truncate, which can only happen at the control
//     record the next batch starts with: every control record drops the
//     partition's cache before it is applied;
//   - a refused step (fence, conflict) or any error drops it too, and a
//     retry reads Redis.
//
// An aggregate type is carried by one topic (topics are named after it), so
// no other topic's steps write the cached aggregates.
//
// The cache also learns whether the partition's uncached aggregates are new:
// once guessAfter reads in a row of uncached aggregates found none of them
// stored, the next batches do not read them but take them as new (no
// position guard, no entity), which is what the read would have returned.
// The script's check of each guard ('' = absent) proves the guess at the
// moment of the write; a wrong guess is refused as a conflict, which drops
// the cache, and the batch is computed again from what Redis holds. So a
// stream of new aggregates (a replay, a flow of new orders) costs no read
// before its script, and a stream that revisits uncached aggregates goes
// back to reading them after one refused script, guessing again only after
// guessAfter reads found nothing.

// guessAfter is how many reads in a row must find every uncached aggregate
// new before the next batches take uncached aggregates as new without
// reading them.
const guessAfter = 8

// maxCached bounds the aggregates cached per partition; the cache is emptied
// when it would grow past it.
const maxCached = 4096

type stateCache struct {
	mu    sync.Mutex
	parts map[int32]*partCache
}

type partCache struct {
	topic string
	next  int64                           // offset stored by the last step
	snap  map[string]uint64               // aggregate type -> snapshot epoch in progress
	aggs  map[string]map[string]*aggState // aggregate type -> id -> state
	n     int
	// fresh counts the reads in a row that found none of the uncached
	// aggregates they read stored; guessed is set while a step is computed
	// if it took uncached aggregates as new without reading them.
	fresh   int
	guessed bool
}

// take returns the cache of partition p for a batch of topic starting at
// from: the cached states if they are current, else an empty cache.
func (c *stateCache) take(p int32, topic string, from int64) *partCache {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.parts == nil {
		c.parts = map[int32]*partCache{}
	}
	pc := c.parts[p]
	if pc == nil || pc.topic != topic || pc.next != from || from < 0 {
		pc = &partCache{topic: topic, next: -1, snap: map[string]uint64{}, aggs: map[string]map[string]*aggState{}}
		c.parts[p] = pc
	}
	return pc
}

// drop forgets partition p.
func (c *stateCache) drop(p int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.parts, p)
}

// get returns the cached state of aggregate id of type agg, if any.
func (pc *partCache) get(agg, id string) *aggState {
	return pc.aggs[agg][id]
}

// put records states (by aggregate id, of type agg) as stored.
func (pc *partCache) put(agg string, snap uint64, states map[string]*aggState) {
	if pc.n+len(states) > maxCached {
		clear(pc.aggs)
		clear(pc.snap)
		pc.n = 0
	}
	m := pc.aggs[agg]
	if m == nil {
		m = map[string]*aggState{}
		pc.aggs[agg] = m
	}
	for id, st := range states {
		if _, ok := m[id]; !ok {
			pc.n++
		}
		m[id] = st
	}
	pc.snap[agg] = snap
}
