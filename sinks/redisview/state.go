package redisview

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// PartitionState is what one partition of a generation has applied.
type PartitionState struct {
	Partition int32
	// Offsets holds, by topic, the next offset to apply.
	Offsets map[string]int64
	// AppliedLSN: every source transaction whose commit end LSN is at most
	// AppliedLSN is applied in this partition (0: nothing proven yet).
	AppliedLSN uint64
	// CommitTime is the commit time of the newest applied event or progress
	// record (the one that moved AppliedLSN last); zero if none.
	CommitTime time.Time
}

// Applied returns the state of every partition of the snapshot's
// generation, in partition order. It blocks on Redis.
func (s *Snapshot) Applied(ctx context.Context) ([]PartitionState, error) {
	pipe := s.r.rdb.Pipeline()
	offs := make([]*redis.MapStringStringCmd, s.r.partitions)
	apps := make([]*redis.MapStringStringCmd, s.r.partitions)
	for p := range s.r.partitions {
		offs[p] = pipe.HGetAll(ctx, s.keys.offsets(p))
		apps[p] = pipe.HGetAll(ctx, s.keys.applied(p))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("read applied positions of generation %d: %w", s.keys.gen, err)
	}
	out := make([]PartitionState, s.r.partitions)
	for p := range s.r.partitions {
		st := PartitionState{Partition: p, Offsets: map[string]int64{}}
		for topic, v := range offs[p].Val() {
			o, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("read offsets of partition %d: topic %s: %q is not an offset", p, topic, v)
			}
			st.Offsets[topic] = o
		}
		a := apps[p].Val()
		var err error
		if st.AppliedLSN, st.CommitTime, err = parseApplied(a["lsn"], a["time"]); err != nil {
			return nil, fmt.Errorf("read applied position of partition %d: %w", p, err)
		}
		out[p] = st
	}
	return out, nil
}

// parseApplied parses a stored applied position and its time (Unix ms);
// both empty mean none.
func parseApplied(lsn, ms string) (uint64, time.Time, error) {
	var l uint64
	var t time.Time
	if lsn != "" {
		n, err := strconv.ParseUint(lsn, 16, 64)
		if err != nil || len(lsn) != 16 {
			return 0, t, fmt.Errorf("lsn %q is not 16 hexadecimal digits", lsn)
		}
		l = n
	}
	if ms != "" {
		n, err := strconv.ParseInt(ms, 10, 64)
		if err != nil {
			return 0, t, fmt.Errorf("time %q is not Unix milliseconds", ms)
		}
		t = time.UnixMilli(n).UTC()
	}
	return l, t, nil
}

// ErrChangesTrimmed is returned by Changes when a partition's change stream
// was trimmed past the ID asked for: entries after it are lost, so the
// reader must start again from the current state.
var ErrChangesTrimmed = errors.New("change stream trimmed past the requested entry")

// Change is one entry of a partition's change stream: one atomic step that
// changed a view or moved the applied position.
type Change struct {
	Partition int32
	// ID is the stream entry ID ("<ms>-<seq>").
	ID string
	// Topic and Offset: the step moved Topic's stored offset to Offset (the
	// next offset to apply).
	Topic  string
	Offset int64
	// AppliedLSN and CommitTime are the partition's applied position once
	// the step was stored.
	AppliedLSN uint64
	CommitTime time.Time
	// Views holds, by view name, the entity ids, index members, aggregate
	// group keys or history ids the step changed (empty for a step that
	// only moved the applied position).
	Views map[string][]string
}

// changesPoll is how often Changes polls a Redis Cluster while it blocks
// (a blocking XREAD names keys of one slot only).
const changesPoll = 20 * time.Millisecond

// Changes reads the change streams of the partitions in after, each after
// its stream ID: "0-0" reads from the oldest entry kept, "$" only entries
// added from now on, "<ms>-<seq>" entries after that one. It returns up to
// count entries per partition (count <= 0: 100), ordered by partition then
// ID; when none is there yet it waits up to block for one (block <= 0: it
// does not wait), and returns an empty slice if none came. A partition whose
// oldest entry kept is after its ID (the stream was trimmed past it) gives
// an error wrapping ErrChangesTrimmed.
// It blocks on Redis.
func (s *Snapshot) Changes(ctx context.Context, after map[int32]string, block time.Duration, count int) ([]Change, error) {
	if count <= 0 {
		count = 100
	}
	parts := make([]int32, 0, len(after))
	for p, id := range after {
		if p < 0 || p >= s.r.partitions {
			return nil, fmt.Errorf("read changes: partition %d: want 0 to %d", p, s.r.partitions-1)
		}
		if id != "$" && !validStreamID(id) {
			return nil, fmt.Errorf("read changes: partition %d: stream ID %q: want \"$\", \"0-0\" or <ms>-<seq>", p, id)
		}
		parts = append(parts, p)
	}
	slices.Sort(parts)
	if len(parts) == 0 {
		return nil, nil
	}
	ids, err := s.resolveAfter(ctx, parts, after)
	if err != nil {
		return nil, err
	}
	out, err := s.readChanges(ctx, parts, ids, count, -1)
	if err != nil || len(out) > 0 || block <= 0 {
		return out, err
	}
	if _, ok := s.r.rdb.(*redis.ClusterClient); !ok {
		return s.readChanges(ctx, parts, ids, count, block)
	}
	deadline := time.Now().Add(block)
	t := time.NewTicker(changesPoll)
	defer t.Stop()
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.C:
		}
		if out, err := s.readChanges(ctx, parts, ids, count, -1); err != nil || len(out) > 0 {
			return out, err
		}
	}
	return nil, nil
}

// resolveAfter turns "$" into the ID of each stream's newest entry and
// checks that no stream was trimmed past the IDs asked for.
func (s *Snapshot) resolveAfter(ctx context.Context, parts []int32, after map[int32]string) (map[int32]string, error) {
	pipe := s.r.rdb.Pipeline()
	newest := map[int32]*redis.XMessageSliceCmd{}
	oldest := map[int32]*redis.XMessageSliceCmd{}
	for _, p := range parts {
		switch id := after[p]; {
		case id == "$":
			newest[p] = pipe.XRevRangeN(ctx, s.keys.changes(p), "+", "-", 1)
		case id != "0-0" && id != "0":
			oldest[p] = pipe.XRangeN(ctx, s.keys.changes(p), "-", "+", 1)
		}
	}
	if len(newest)+len(oldest) > 0 {
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("read changes: %w", err)
		}
	}
	ids := make(map[int32]string, len(parts))
	for _, p := range parts {
		ids[p] = after[p]
		if c, ok := newest[p]; ok {
			msgs, err := c.Result()
			if err != nil {
				return nil, fmt.Errorf("read changes of partition %d: %w", p, err)
			}
			ids[p] = "0-0"
			if len(msgs) > 0 {
				ids[p] = msgs[0].ID
			}
		}
		// The ID asked for is one the reader saw: when the oldest entry
		// kept is after it, the reader's entry is trimmed, and so may be
		// the ones that followed it. (An empty stream was never written
		// or is a new generation's: nothing to lose.)
		if c, ok := oldest[p]; ok {
			if msgs := c.Val(); len(msgs) > 0 && compareStreamIDs(msgs[0].ID, after[p]) > 0 {
				return nil, fmt.Errorf("read changes of partition %d after %s (the oldest entry kept is %s): %w", p, after[p], msgs[0].ID, ErrChangesTrimmed)
			}
		}
	}
	return ids, nil
}

// readChanges reads each partition's stream after ids[p]: one XREAD of all
// streams blocking up to block when block > 0 (a single Redis only), else
// one non-blocking XREAD per stream, pipelined.
func (s *Snapshot) readChanges(ctx context.Context, parts []int32, ids map[int32]string, count int, block time.Duration) ([]Change, error) {
	byKey := make(map[string]int32, len(parts))
	var streams []redis.XStream
	if block > 0 {
		args := make([]string, 0, 2*len(parts))
		for _, p := range parts {
			args = append(args, s.keys.changes(p))
			byKey[s.keys.changes(p)] = p
		}
		for _, p := range parts {
			args = append(args, ids[p])
		}
		res, err := s.r.rdb.XRead(ctx, &redis.XReadArgs{Streams: args, Count: int64(count), Block: block}).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("read changes: %w", err)
		}
		streams = res
	} else {
		pipe := s.r.rdb.Pipeline()
		cmds := make([]*redis.XStreamSliceCmd, len(parts))
		for i, p := range parts {
			k := s.keys.changes(p)
			byKey[k] = p
			cmds[i] = pipe.XRead(ctx, &redis.XReadArgs{Streams: []string{k, ids[p]}, Count: int64(count), Block: -1})
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("read changes: %w", err)
		}
		for _, c := range cmds {
			streams = append(streams, c.Val()...)
		}
	}
	var out []Change
	for _, st := range streams {
		p := byKey[st.Stream]
		for _, m := range st.Messages {
			c, err := parseChange(p, m)
			if err != nil {
				return nil, fmt.Errorf("read changes of partition %d: entry %s: %w", p, m.ID, err)
			}
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b Change) int {
		if a.Partition != b.Partition {
			return int(a.Partition - b.Partition)
		}
		return compareStreamIDs(a.ID, b.ID)
	})
	return out, nil
}

func parseChange(p int32, m redis.XMessage) (Change, error) {
	c := Change{Partition: p, ID: m.ID}
	str := func(k string) string { v, _ := m.Values[k].(string); return v }
	c.Topic = str("topic")
	o, err := strconv.ParseInt(str("offset"), 10, 64)
	if err != nil {
		return c, fmt.Errorf("offset %q is not an offset", str("offset"))
	}
	c.Offset = o
	if c.AppliedLSN, c.CommitTime, err = parseApplied(str("lsn"), str("time")); err != nil {
		return c, err
	}
	if t := str("time"); t == "0" {
		c.CommitTime = time.Time{}
	}
	if err := json.Unmarshal([]byte(str("views")), &c.Views); err != nil {
		return c, fmt.Errorf("views: %w", err)
	}
	return c, nil
}

// validStreamID reports whether id is "<ms>-<seq>" (or "<ms>") in decimal.
func validStreamID(id string) bool {
	ms, seq, hasSeq := strings.Cut(id, "-")
	if _, err := strconv.ParseUint(ms, 10, 64); err != nil {
		return false
	}
	if hasSeq {
		if _, err := strconv.ParseUint(seq, 10, 64); err != nil {
			return false
		}
	}
	return true
}

// compareStreamIDs compares two valid stream IDs.
func compareStreamIDs(a, b string) int {
	am, as, _ := strings.Cut(a, "-")
	bm, bs, _ := strings.Cut(b, "-")
	an, _ := strconv.ParseUint(am, 10, 64)
	bn, _ := strconv.ParseUint(bm, 10, 64)
	if an != bn {
		if an < bn {
			return -1
		}
		return 1
	}
	asq, _ := strconv.ParseUint(as, 10, 64)
	bsq, _ := strconv.ParseUint(bs, 10, 64)
	switch {
	case asq < bsq:
		return -1
	case asq > bsq:
		return 1
	}
	return 0
}
