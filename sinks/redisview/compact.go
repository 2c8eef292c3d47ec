package redisview

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Tombstone compaction.
//
// A deleted aggregate (dropped by a snapshot end or a truncate, or removed by
// a delete_on event when no history view follows its type) keeps its
// position as a tombstone, "<position> <epoch> <deleted>", so that a stale
// event cannot bring it back. Kept forever, tombstones grow without bound
// with the number of aggregates ever deleted. A tombstone may be dropped once
// no event at or below its position can still arrive on its partition:
//
//   - Kafka never re-delivers a record below the stored offset, and a
//     zombie is fenced, so stale events only come from the source side: a
//     publisher that restarts after a crash re-sends what it had not
//     confirmed (at-least-once mode), and a snapshot epoch's state events
//     (positions at its consistent point) can follow a later delete;
//   - re-sent events trail the newest event of the partition by at most the
//     publisher's in-flight window (seconds to minutes), measured in commit
//     time; state events only arrive while their snapshot is in progress.
//
// So a tombstone is dropped when (1) no snapshot of its aggregate type is in
// progress on its partition, and (2) its deletion time is more than a
// horizon (default 24 h, far above any in-flight window) older than the
// newest commit time applied on that partition. Commit times, not the wall
// clock: a materializer that was stopped for a week compacts nothing until it
// has applied a day of new events. Each removal is a compare-and-delete of the
// exact tombstone value in one script that also checks (1), so an aggregate
// brought back in the meantime is never touched, and an apply computed from
// the tombstone conflicts and is computed again.

// compactScript deletes tombstones if they are unchanged and no snapshot is
// in progress. KEYS[1] the positions hash, KEYS[2] the snapshot key; ARGV
// pairs of (aggregate id, tombstone value). Replies the number deleted.
var compactScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local n = 0
for i = 1, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    redis.call('HDEL', KEYS[1], ARGV[i])
    n = n + 1
  end
end
return n
`)

// newestTimes records the newest commit time applied per partition.
type newestTimes struct {
	mu sync.Mutex
	t  map[int32]time.Time
}

func (n *newestTimes) observe(p int32, t time.Time) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.t == nil {
		n.t = map[int32]time.Time{}
	}
	if t.After(n.t[p]) {
		n.t[p] = t
	}
}

func (n *newestTimes) get(p int32) time.Time {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.t[p]
}

// NewestApplied returns the newest commit time of an event these Views
// applied on partition p (zero if none yet): the clock tombstone compaction
// measures its horizon on.
func (v *Views) NewestApplied(p int32) time.Time { return v.newest.get(p) }

// CompactTombstones scans one slice (about count fields) of the positions of
// aggregate type agg on partition p from cursor, and deletes the tombstones
// deleted before cutoff, unless a snapshot of agg is in progress on p. It
// returns the cursor of the next slice (0: the scan is complete) and how many
// it deleted. Callers pass cutoff = NewestApplied(p) - horizon. It blocks on
// Redis.
func (v *Views) CompactTombstones(ctx context.Context, p int32, agg string, cursor uint64, count int64, cutoff time.Time) (next uint64, removed int, err error) {
	posKey := v.keys.pos(p, agg)
	kvs, next, err := v.rdb.HScan(ctx, posKey, cursor, "", count).Result()
	if err != nil {
		return 0, 0, fmt.Errorf("compact tombstones of %s on partition %d: scan: %w", agg, p, err)
	}
	var args []any
	for i := 0; i+1 < len(kvs); i += 2 {
		_, _, deleted, err := parsePosValue(kvs[i+1])
		if err != nil {
			return 0, 0, fmt.Errorf("compact tombstones: aggregate %s %q: %w", agg, kvs[i], err)
		}
		if deleted != 0 && deleted < cutoff.Unix() {
			args = append(args, kvs[i], kvs[i+1])
		}
	}
	if len(args) == 0 {
		return next, 0, nil
	}
	n, err := compactScript.Run(ctx, v.rdb, []string{posKey, v.keys.snap(p, agg)}, args...).Int()
	if err != nil {
		return 0, 0, fmt.Errorf("compact tombstones of %s on partition %d: %w", agg, p, err)
	}
	return next, n, nil
}
