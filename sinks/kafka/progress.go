package kafka

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cdcflow/cdcflow/pipeline"
)

// Progress records (pipeline.ControlProgress)
//
// While the source is idle, the flow writes a progress record to the
// partitions of the event topics that have nothing newer to tell, so that a
// reader learns how current each partition is. Which partitions are due is
// decided here, where every record's partition is known. A partition is due
// a progress record when
//
//   - no record of any kind was written to it for one progress interval
//     (an idle partition hears at least once per interval), or
//   - its newest record is an event or another control record, written at
//     least ProgressQuiet(interval) ago and followed by nothing (the end of
//     a burst: a reader waiting for that transaction's commit end LSN learns
//     it within a fraction of the interval, since an event only proves its
//     commit LSN, which lies before the end), or
//   - the source position moved past the one its last progress record
//     carried, and nothing was written to it for ProgressQuiet(interval) (a
//     reader of every partition waiting for a write that went elsewhere
//     learns it as soon).
//
//   - the source position moved past both the one its last progress record
//     carried and the end LSN its last marked record carried
//     (pipeline.HeaderEndLSN), nothing was written to it for half of
//     ProgressPrompt(interval), and no progress record for all of it (a
//     reader waiting for a position that its own events do not prove — a
//     transaction that went to another partition, WAL without events that
//     a keepalive reported — learns it within a few milliseconds).
//
// A partition that carries events more often than every half
// ProgressPrompt(interval) never gets one: its next event, of a later
// transaction, proves the position soon enough. A partition gets at most
// one per ProgressPrompt(interval), and only when the position moved past
// what it holds; one per interval while it stands still.

// ProgressQuiet is how long a partition's newest event must be followed by
// nothing before the partition is due a progress record: a quarter of the
// interval, at most 100 ms.
func ProgressQuiet(interval time.Duration) time.Duration {
	return min(interval/4, 100*time.Millisecond)
}

// ProgressPrompt is how long after its last progress record a partition
// may get another because the source position moved past what it proves:
// a tenth of ProgressQuiet(interval), at most 10 ms.
func ProgressPrompt(interval time.Duration) time.Duration {
	return ProgressQuiet(interval) / 10
}

// DefaultProgressInterval is the default progress interval
// (kafka.progress_interval).
const DefaultProgressInterval = time.Second

// activity is, per partition of each topic, what was last written to it. It
// is safe for concurrent use.
type activity struct {
	mu    sync.Mutex
	parts map[string][]partActivity
}

type partActivity struct {
	last     time.Time // when the newest record was handed to the client
	trailing bool      // the newest record is not a progress record
	told     uint64    // the position of the last progress record it was given
	toldAt   time.Time // when it was given
	proven   uint64    // the highest end LSN a record written to it carried
}

// note records that a record (a progress record when progress) was handed
// to the client for partition part of topic, which has n partitions.
func (a *activity) note(topic string, part, n int32, progress bool, now time.Time) {
	if part < 0 || part >= n {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.parts == nil {
		a.parts = map[string][]partActivity{}
	}
	ps := a.parts[topic]
	if int32(len(ps)) < n {
		ps = append(ps, make([]partActivity, int(n)-len(ps))...)
		a.parts[topic] = ps
	}
	st := &ps[part]
	st.last, st.trailing = now, !progress
}

// proved records that a record carrying end LSN lsn was handed to the
// client for partition part of topic.
func (a *activity) proved(topic string, part int32, lsn uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ps := a.parts[topic]
	if part < 0 || int(part) >= len(ps) {
		return
	}
	ps[part].proven = max(ps[part].proven, lsn)
}

// due returns the partitions of topic (of n) due a progress record of
// position pos at now and marks them as having one.
func (a *activity) due(topic string, n int32, now time.Time, interval time.Duration, pos uint64) []int32 {
	quiet, prompt := ProgressQuiet(interval), ProgressPrompt(interval)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.parts == nil {
		a.parts = map[string][]partActivity{}
	}
	ps := a.parts[topic]
	if int32(len(ps)) < n {
		ps = append(ps, make([]partActivity, int(n)-len(ps))...)
		a.parts[topic] = ps
	}
	var out []int32
	for p := range n {
		st := &ps[p]
		idle := now.Sub(st.last)
		if idle >= interval || (st.trailing || pos > st.told) && idle >= quiet ||
			pos > st.told && pos > st.proven && idle >= prompt/2 && now.Sub(st.toldAt) >= prompt {
			out = append(out, p)
			*st = partActivity{last: now, told: pos, toldAt: now, proven: st.proven}
		}
	}
	return out
}

// noteRecords records the kgo records krs of r as handed to the client.
func (rt *router) noteRecords(r pipeline.Record, krs []*kgo.Record) {
	now := time.Now()
	progress := r.Type == pipeline.ProgressType
	for _, kr := range krs {
		rt.mu.Lock()
		n, ok := rt.parts[kr.Topic]
		rt.mu.Unlock()
		if !ok {
			continue // a topic not ensured: not an event topic of this run
		}
		part := kr.Partition
		if part < 0 {
			part = 0
			if kr.Key != nil {
				part = int32(keyHash.Partition(kr, int(n)))
			}
		}
		rt.act.note(kr.Topic, part, n, progress, now)
	}
}

// progressDue returns, by topic, the partitions of topics due a progress
// record at now. A topic's partition count is looked up once, when not known
// yet.
func (rt *router) progressDue(ctx context.Context, topics []string, now time.Time, interval time.Duration, pos uint64) (map[string][]int32, error) {
	out := map[string][]int32{}
	for _, t := range topics {
		if t == rt.deadLetterTopic {
			continue
		}
		n, err := rt.partitionCount(ctx, t)
		if err != nil {
			return nil, fmt.Errorf("progress records: %w", err)
		}
		if ps := rt.act.due(t, n, now, interval, pos); len(ps) > 0 {
			out[t] = ps
		}
	}
	return out, nil
}

// ProgressDue returns, by topic, the partitions of topics due a progress
// record of source position pos at now under the rule above, and counts
// them as having one from now on (the caller publishes it). It blocks only to look up the partition
// count of a topic not ensured by EnsureTopics, once. It is safe for
// concurrent use.
func (p *Publisher) ProgressDue(ctx context.Context, topics []string, now time.Time, interval time.Duration, pos uint64) (map[string][]int32, error) {
	return p.route.progressDue(ctx, topics, now, interval, pos)
}

// ProgressDue is Publisher.ProgressDue for the exactly-once publisher.
func (t *TxPublisher) ProgressDue(ctx context.Context, topics []string, now time.Time, interval time.Duration, pos uint64) (map[string][]int32, error) {
	return t.route.progressDue(ctx, topics, now, interval, pos)
}

// only keeps the records of krs whose partition is in parts.
func only(krs []*kgo.Record, parts []int32) []*kgo.Record {
	out := krs[:0]
	for _, kr := range krs {
		if slices.Contains(parts, kr.Partition) {
			out = append(out, kr)
		}
	}
	return out
}
