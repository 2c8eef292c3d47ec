package query

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cdcflow/cdcflow/sinks/redisview"
)

// The generation pointer, cached
//
// Every read names the generation it reads. The pointer (<prefix>generation)
// changes only when a replay swaps in a new generation, and the old one stays
// readable for views.replay_grace (30 s by default) after the swap, so a read
// need not fetch the pointer each time: the server keeps the one it read last
// and trusts it for pointerMaxAge. The watcher, which follows the change
// streams, reads the pointer again at every turn (at least once a second:
// its blocking read waits one second at most), and every request that reads
// it anyway (a cursor's check, a read-your-writes wait) refreshes the cache.
// So a plain read sees a swap at most pointerMaxAge late, and never reads a
// generation deleted after its grace as long as views.replay_grace is longer
// than that. Reads with min_lsn always read the pointer first: a wait must
// be on the generation the materializer is applying.

// pointerMaxAge is how long a read trusts a generation pointer read before.
const pointerMaxAge = time.Second

// genCache is the last generation pointer read and when.
type genCache struct {
	mu   sync.Mutex // one unforced refresh at a time
	seen atomic.Pointer[genSeen]
}

type genSeen struct {
	gen int64
	at  time.Time // taken before the read, so the age errs on the safe side
}

// current returns a Snapshot of the current generation, from the cached
// pointer when it is younger than pointerMaxAge, else reading it.
func (s *Server) current(ctx context.Context) (*redisview.Snapshot, error) {
	if g := s.gens.seen.Load(); g != nil && time.Since(g.at) < pointerMaxAge {
		return s.reader.At(g.gen), nil
	}
	return s.refreshGeneration(ctx, false)
}

// refreshGeneration reads the pointer and caches it. Without force, reads
// take turns and one that finds the cache refreshed meanwhile uses it (a
// burst of requests when the cache expires makes one read); with force
// (read-your-writes waits, the watcher, cursors) it reads at once.
func (s *Server) refreshGeneration(ctx context.Context, force bool) (*redisview.Snapshot, error) {
	if !force {
		s.gens.mu.Lock()
		defer s.gens.mu.Unlock()
		if g := s.gens.seen.Load(); g != nil && time.Since(g.at) < pointerMaxAge {
			return s.reader.At(g.gen), nil
		}
	}
	at := time.Now()
	gen, err := redisview.CurrentGeneration(ctx, s.rdb, s.prefix)
	if err != nil {
		return nil, err
	}
	if gen == 0 {
		return nil, errors.New("read views: no generation has been swapped in yet")
	}
	s.noteGeneration(gen, at)
	return s.reader.At(gen), nil
}

// noteGeneration caches gen, read from the pointer at at, unless a younger
// reading is cached already.
func (s *Server) noteGeneration(gen int64, at time.Time) {
	for {
		old := s.gens.seen.Load()
		if old != nil && old.at.After(at) {
			return
		}
		if s.gens.seen.CompareAndSwap(old, &genSeen{gen: gen, at: at}) {
			return
		}
	}
}
