package flow_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/pipeline"
	"github.com/cdcflow/cdcflow/sinks/kafka"
)

// fakeGate says partitions 0 and 2 of every topic asked about are due, while
// open.
type fakeGate struct {
	mu    sync.Mutex
	open  bool
	calls int
}

func (g *fakeGate) ProgressDue(_ context.Context, topics []string, _ time.Time, interval time.Duration, _ uint64) (map[string][]int32, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls++
	if !g.open || interval != kafka.DefaultProgressInterval {
		return nil, nil
	}
	out := map[string][]int32{}
	for _, t := range topics {
		out[t] = []int32{0, 2}
	}
	return out, nil
}

func (g *fakeGate) set(open bool) {
	g.mu.Lock()
	g.open = open
	g.mu.Unlock()
}

// progressOf decodes the progress records of a batch, or nil if it has
// other records.
func progressOf(t *testing.T, recs []pipeline.Record) []pipeline.Event {
	t.Helper()
	var out []pipeline.Event
	for _, r := range recs {
		ev, err := pipeline.DecodeRecord(r)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Control != pipeline.ControlProgress {
			return nil
		}
		if !r.AllPartitions || !slices.Equal(r.Partitions, []int32{0, 2}) || r.Topic != "shop.order" || len(r.Key) != 0 {
			t.Errorf("progress record to %s %v (all %v) key %q; want shop.order [0 2], no key", r.Topic, r.Partitions, r.AllPartitions, r.Key)
		}
		out = append(out, ev)
	}
	return out
}

// TestAtLeastOnceProgress: progress records are queued behind what was
// handed on, carry the end of the last transaction (or heartbeat) and its
// time, confirm nothing, repeat the last record's cursor (none before the
// first record), and none is sent while a snapshot epoch is open or before
// a position has a time.
func TestAtLeastOnceProgress(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gate := &fakeGate{open: true}
		h := runWith(t, false, nil, gate)
		h.hand(connected())
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if n := h.pub.published(); n != 0 {
			t.Fatalf("%d batches before any commit or heartbeat; want none", n)
		}
		at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
		hb := heartbeat(0x180)
		hb.Time = at
		h.hand(hb)
		time.Sleep(150 * time.Millisecond)
		synctest.Wait()
		h.pub.mu.Lock()
		batches := slices.Clone(h.pub.batches)
		h.pub.mu.Unlock()
		if len(batches) == 0 {
			t.Fatal("no progress record after a heartbeat")
		}
		evs := progressOf(t, batches[0].Records)
		if len(evs) != 1 || evs[0].LSN != 0x180 || !evs[0].Time.Equal(at) || batches[0].Cursors != nil {
			t.Fatalf("first progress = %+v cursors %v; want one at 0/180, %v, no cursor (nothing handed on yet)", evs, batches[0].Cursors, at)
		}
		// Acknowledging progress confirms nothing new.
		h.pub.ack(0, nil)
		synctest.Wait()
		if got := h.src.last(); got != 0x180 {
			t.Fatalf("confirmed %s; want 0/180 (the heartbeat's)", got)
		}

		gate.set(false)
		c := commit(0x200)
		c.CommitTime = at.Add(time.Second)
		h.hand(append(tx(0x200, 1)[:2], c)...)
		n := h.pub.published()
		gate.set(true)
		time.Sleep(150 * time.Millisecond)
		synctest.Wait()
		h.pub.mu.Lock()
		batches = slices.Clone(h.pub.batches[n:])
		h.pub.mu.Unlock()
		if len(batches) == 0 {
			t.Fatal("no progress record after a transaction")
		}
		evs = progressOf(t, batches[0].Records)
		if len(evs) != 1 || evs[0].LSN != 0x208 || !evs[0].Time.Equal(c.CommitTime) ||
			!slices.Equal(batches[0].Cursors, []kafka.Cursor{{LSN: 0x200, N: 1}}) {
			t.Fatalf("progress after a transaction = %+v cursors %v; want 0/208 at its commit time, cursor 200/1", evs, batches[0].Cursors)
		}

		// None while a snapshot epoch is open.
		h.hand(&capture.Marker{Kind: capture.MarkerSnapshotBegin, Epoch: 9, LSN: 0x2FF, Tables: []*capture.Relation{orders}})
		n = h.pub.published()
		time.Sleep(time.Second)
		synctest.Wait()
		if got := h.pub.published(); got != n {
			t.Fatalf("%d progress batches during a snapshot; want none", got-n)
		}
		h.hand(&capture.Marker{Kind: capture.MarkerSnapshotEnd, Epoch: 9, LSN: 0x2FF, Tables: []*capture.Relation{orders}})
		n = h.pub.published()
		time.Sleep(150 * time.Millisecond)
		synctest.Wait()
		if got := h.pub.published(); got == n {
			t.Fatal("no progress record after the snapshot's end")
		}
	})
}

// TestExactlyOnceProgress: in exactly-once mode progress records travel in
// the transactions and store the cursor already stored (they add no source
// record).
func TestExactlyOnceProgress(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gate := &fakeGate{open: false}
		h := runWith(t, true, nil, gate)
		h.hand(connected())
		msgs := tx(0x200, 1)
		msgs[len(msgs)-1].(*capture.Commit).CommitTime = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
		h.hand(msgs...)
		h.tx.commit <- nil
		synctest.Wait()
		gate.set(true)
		time.Sleep(150 * time.Millisecond)
		synctest.Wait()
		h.tx.commit <- nil
		synctest.Wait()
		txs := h.tx.transactions()
		if len(txs) < 2 {
			t.Fatalf("%d transactions; want the events' and a progress one", len(txs))
		}
		last := txs[1]
		var recs []pipeline.Record
		for _, r := range last {
			recs = append(recs, r.Record)
		}
		evs := progressOf(t, recs)
		if len(evs) != 1 || evs[0].LSN != 0x208 {
			t.Fatalf("progress transaction = %+v; want one record at 0/208", evs)
		}
		if got, want := decodeCut(t, last[len(last)-1].Cut), decodeCut(t, txs[0][len(txs[0])-1].Cut); got != want {
			t.Fatalf("progress transaction stores %+v; want the stored %+v", got, want)
		}
		if got := h.src.last(); got != 0x208 {
			t.Fatalf("confirmed %s; want 0/208", got)
		}
	})
}

// TestProgressMarkerPosition: a progress marker past the last transaction
// (decoding reached WAL without events) makes progress records carry its
// position at once, without waiting for the progress tick, with the last
// transaction's commit time (not the marker's: a keepalive's send time is
// no commit time), and confirms nothing past the transaction.
func TestProgressMarkerPosition(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gate := &fakeGate{}
		h := runWith(t, false, nil, gate)
		h.hand(connected())
		committed := time.Date(2026, 11, 23, 10, 0, 4, 0, time.UTC)
		msgs := tx(0x200, 1)
		msgs[len(msgs)-1].(*capture.Commit).CommitTime = committed
		h.hand(msgs...)
		h.pub.ack(0, nil)
		synctest.Wait()
		n := h.pub.published()
		gate.set(true)
		at := time.Date(2026, 11, 23, 10, 0, 5, 0, time.UTC)
		h.hand(&capture.Marker{Kind: capture.MarkerProgress, LSN: 0x2A0, Time: at})
		// The marker itself wakes the progress loop, which waits only a
		// fifth of ProgressPrompt (2 ms), not the 100 ms tick.
		time.Sleep(kafka.ProgressPrompt(kafka.DefaultProgressInterval) / 5)
		synctest.Wait()
		h.pub.mu.Lock()
		batches := slices.Clone(h.pub.batches[n:])
		h.pub.mu.Unlock()
		if len(batches) == 0 {
			t.Fatal("no progress record right after a progress marker")
		}
		evs := progressOf(t, batches[0].Records)
		if len(evs) != 1 || evs[0].LSN != 0x2A0 || !evs[0].Time.Equal(committed) {
			t.Fatalf("progress after a marker = %+v; want one at 0/2A0 with the transaction's commit time %v (not the marker's %v)", evs, committed, at)
		}
		h.pub.ack(n, nil)
		synctest.Wait()
		if got := h.src.last(); got != 0x208 {
			t.Fatalf("confirmed %s; want 0/208 (a progress marker is not confirmable)", got)
		}
	})
}
