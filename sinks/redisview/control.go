package redisview

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cdcflow/cdcflow/pipeline"
)

// control applies one control record in its own atomic step(s):
//
//   - snapshot begin (epoch E): the partition's snapshot in progress becomes
//     E, superseding an interrupted earlier one; every event applied from now
//     on marks its aggregate as seen in E;
//   - snapshot end (epoch E), if E is the snapshot in progress: every
//     aggregate of the partition not seen in E (no state event of E, no later
//     event) no longer exists in the source and is dropped from every view;
//     an end of a superseded epoch changes nothing;
//   - truncate: every aggregate of the partition is dropped.
//
// Dropping removes an aggregate's entity hashes, index entries, aggregate
// counts and sums (derived from its state, as for any change) and history; its
// position stays as a tombstone, so that a stale re-sent event cannot bring it
// back. Many aggregates are dropped in chunks of DropChunk, each atomic;
// only the last chunk advances the offset, so a crash in between resumes with
// the same control record and drops what is left.
func (v *Views) control(ctx context.Context, topic string, p int32, from int64, r Record) error {
	ev := r.Event
	agg := ev.AggregateType
	to := r.Offset + 1
	if agg == "" {
		return v.poisonOrFail(ctx, topic, p, from, to, &ProjectError{Offset: r.Offset, EventID: ev.ID, Err: errors.New("control record has no aggregate type")}, r)
	}
	snapKey := v.keys.snap(p, agg)
	switch ev.Control {
	case pipeline.ControlSnapshotBegin:
		s := v.newStep(p)
		s.op("SET", snapKey, strconv.FormatUint(ev.Epoch, 10))
		return v.run(ctx, s, topic, from, to)
	case pipeline.ControlSnapshotEnd:
		cur, err := v.rdb.Get(ctx, snapKey).Result()
		if errors.Is(err, redis.Nil) || err == nil && cur != strconv.FormatUint(ev.Epoch, 10) {
			// Not the snapshot in progress: superseded, or already done.
			s := v.newStep(p)
			if lsn, ok := proves(ev); ok {
				s.prove(lsn, ev.Time)
			}
			return v.run(ctx, s, topic, from, to)
		}
		if err != nil {
			return fmt.Errorf("read snapshot epoch of %s[%d]: %w", topic, p, err)
		}
		return v.drop(ctx, topic, p, agg, from, to, func(seen uint64) bool { return seen < ev.Epoch }, snapKey, ev)
	case pipeline.ControlTruncate:
		return v.drop(ctx, topic, p, agg, from, to, func(uint64) bool { return true }, "", ev)
	}
	return v.poisonOrFail(ctx, topic, p, from, to, &ProjectError{Offset: r.Offset, EventID: ev.ID, Err: fmt.Errorf("unknown control kind %d", ev.Control)}, r)
}

// poisonOrFail hands a poison control record to OnPoison and, when it is
// taken, stores the offset past it.
func (v *Views) poisonOrFail(ctx context.Context, topic string, p int32, from, to int64, perr *ProjectError, r Record) error {
	if err := v.poison(ctx, perr, r); err != nil {
		return err
	}
	return v.run(ctx, v.newStep(p), topic, from, to)
}

// drop removes the aggregates of type agg in partition p whose seen epoch
// satisfies gone, then stores offset to (and deletes doneKey, if not "")
// with the applied position the control record ctl proves. Their positions
// become tombstones deleted at ctl's time.
func (v *Views) drop(ctx context.Context, topic string, p int32, agg string, from, to int64, gone func(uint64) bool, doneKey string, ctl pipeline.Event) error {
	at := ctl.Time
	posKey := v.keys.pos(p, agg)
	all, err := v.rdb.HGetAll(ctx, posKey).Result()
	if err != nil {
		return fmt.Errorf("read positions of %s[%d]: %w", topic, p, err)
	}
	var ids []string
	for id, val := range all {
		_, seen, deleted, err := parsePosValue(val)
		if err != nil {
			return fmt.Errorf("aggregate %s %q: %w", agg, id, err)
		}
		if gone(seen) && deleted == 0 { // a tombstone has nothing left to drop
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for {
		n := min(len(ids), v.cfg.DropChunk)
		chunk := ids[:n]
		ids = ids[n:]
		last := len(ids) == 0
		end := from
		if last {
			end = to
		}
		// Not a backoff loop: as in apply, a conflict of the compare-and-set
		// is recomputed at once; other errors are returned.
		for attempt := 0; ; attempt++ {
			s, err := v.dropStep(ctx, p, agg, chunk, at)
			if err != nil {
				return err
			}
			if last && doneKey != "" {
				s.op("DEL", doneKey)
			}
			if lsn, ok := proves(ctl); ok && last {
				s.prove(lsn, ctl.Time)
			}
			err = v.run(ctx, s, topic, from, end)
			if errors.Is(err, errConflict) && attempt < v.cfg.MaxRetries {
				v.cfg.Metrics.addConflict()
				continue
			}
			if err != nil {
				return err
			}
			break
		}
		if last {
			return nil
		}
	}
}

// dropStep builds the step that removes the aggregates ids, leaving their
// positions as tombstones deleted at time at.
func (v *Views) dropStep(ctx context.Context, p int32, agg string, ids []string, at time.Time) (*step, error) {
	s := v.newStep(p)
	if len(ids) == 0 {
		return s, nil
	}
	states, _, err := v.readStates(ctx, p, agg, ids)
	if err != nil {
		return nil, err
	}
	posKey := v.keys.pos(p, agg)
	deltas := map[deltaKey]int64{}
	for _, id := range ids {
		st := states[id]
		s.check(posKey, id, st.posValue())
		if err := v.writeAggregate(s, p, agg, id, st.entities, map[string]map[string]string{}, nil, nil, deltas, nil); err != nil {
			return nil, fmt.Errorf("aggregate %s %q: %w", agg, id, err)
		}
		for _, hv := range v.defs.views {
			if hv.kind == KindHistory && hv.aggregate == agg {
				s.touch(hv.name, id)
				s.op("DEL", v.keys.item(p, hv.name, id))
			}
		}
		if st.present && !at.IsZero() {
			ts := *st
			ts.deleted = tombstoneTime(at)
			s.merge("HSET", posKey, id, ts.posValue())
		}
	}
	v.flushDeltas(s, deltas)
	v.syncTops(s, p)
	return s, nil
}
