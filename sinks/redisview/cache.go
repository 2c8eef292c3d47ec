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
