package flow

import (
	"context"
	"errors"
	"maps"
	"slices"
	"time"

	"github.com/cdcflow/cdcflow/backpressure"
	"github.com/cdcflow/cdcflow/pipeline"
	"github.com/cdcflow/cdcflow/sinks/kafka"
)

// ProgressGate says which partitions of the event topics are due a
// progress record (kafka.Publisher and kafka.TxPublisher implement it; the
// rule is sinks/kafka's, docs/events.md).
type ProgressGate interface {
	// ProgressDue returns, by topic, the partitions of topics due a
	// progress record of source position pos at now, and counts them as
	// having one. It is called from the flow's progress goroutine and
	// should not block for long.
	ProgressDue(ctx context.Context, topics []string, now time.Time, interval time.Duration, pos uint64) (map[string][]int32, error)
}

// progressLoop writes progress records, every ProgressQuiet(interval) and
// whenever a chunk moved the source position, to the partitions the gate
// says are due one (progress.go in sinks/kafka).
// A progress record goes through the queue like any batch, behind every
// record handed on before it, so the position it carries — the end of the
// last transaction (or heartbeat) handed on — is true of every partition it
// reaches: each one holds every record of the transactions up to it.
func (f *Flow) progressLoop(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-f.wmReady:
	}
	t := time.NewTicker(kafka.ProgressQuiet(f.every))
	defer t.Stop()
	// After the position moved, the check waits a moment: long enough for
	// the publisher to have written the chunk's records, so that a
	// partition their end LSN marks already prove is not due (sinks/kafka's
	// rule), short beside a read-your-writes wait. A second check follows
	// once a partition that was just written to can have been quiet for
	// long enough to be due.
	prompt := kafka.ProgressPrompt(f.every)
	settle := time.NewTimer(0)
	<-settle.C
	defer settle.Stop()
	const (
		idle = iota
		first
		second
	)
	state := idle
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		case <-f.moved:
			if state != first {
				state = first
				settle.Reset(prompt / 5)
			}
			continue
		case <-settle.C:
			if state == first {
				state = second
				settle.Reset(prompt / 2)
			} else {
				state = idle
			}
		}
		if err := f.sendProgress(ctx, time.Now()); err != nil {
			if errors.Is(err, backpressure.ErrClosed) {
				return nil // capture stopped: the flow is ending
			}
			return err
		}
	}
}

// sendProgress queues the progress records due at now, if any. It waits
// for the chunk being handled, so that it sees the handler's state between
// two chunks.
func (f *Flow) sendProgress(ctx context.Context, now time.Time) error {
	f.hmu.Lock()
	defer f.hmu.Unlock()
	// Nothing to tell before a commit or heartbeat gave the position a
	// time, and nothing while a snapshot epoch is open: its rows are the
	// state up to the consistent point, which no partition has applied
	// before the epoch's end marker.
	pos, at := f.lastEnd, f.endTime
	if f.reached > pos {
		// Decoding reached past the last transaction handed on (WAL
		// without events, from a keepalive): every transaction ending
		// before it was handed on ahead of this progress record. The time
		// stays the newest commit (or heartbeat) time: the keepalive's
		// send time is not one, and a transaction after its position can
		// have committed before it was sent (the walsender had not read
		// it yet), so it would claim an event time that later events
		// fall behind (the CEP watermark; docs/events.md).
		pos = f.reached
	}
	if at.IsZero() || f.snapshot || f.encodeErr != nil {
		return nil
	}
	b := &batch{progress: true, source: f.cur.source, stream: f.cur.stream}
	var cur kafka.Cursor
	haveCursor := f.cur.handed
	if f.tx != nil {
		// Exactly-once: the transaction stores the cursor of the last
		// record handed on (or the stored one): nothing new.
		if f.cur.skip.Source == "" {
			return nil
		}
		b.source, haveCursor = f.cur.skip.Source, true
	}
	cur = kafka.Cursor{LSN: uint64(f.cur.skip.LSN), N: f.cur.skip.Records, ClosesEpoch: f.cur.lastCloses}
	due, err := f.progress.ProgressDue(ctx, f.topics, now, f.every, uint64(pos))
	if err != nil {
		return err
	}
	if len(due) == 0 {
		return nil
	}
	var size int64
	for _, topic := range slices.Sorted(maps.Keys(due)) {
		ev := pipeline.NewProgress(f.cur.source, f.aggOf[topic], pos, at)
		r, err := pipeline.EncodeEvent(ev, topic, pipeline.Structured)
		if err != nil {
			return err
		}
		r.Partitions = due[topic]
		b.records = append(b.records, r)
		size += int64(len(r.Key) + len(r.Value))
		if haveCursor {
			b.cursors = append(b.cursors, cur)
		}
	}
	return f.queue.Put(ctx, b, size)
}
