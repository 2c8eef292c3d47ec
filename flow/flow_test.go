package flow_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/flow"
	"github.com/cdcflow/cdcflow/pipeline"
	"github.com/cdcflow/cdcflow/sinks/kafka"
)

// The tests run the flow on hand-written fakes of capture and Kafka, inside
// a synctest bubble: after each step synctest.Wait lets every goroutine of
// the flow settle, so what Confirm received is final for that step.

const mappingSrc = `version: 1
topics: {prefix: shop.}
tables:
  - table: orders
    aggregate: {type: order, id: string(row.id)}
    events:
      - type: OrderPlaced
        version: 1
        when: op == "insert"
        data: {order_id: row.id}
`

var (
	orders = &capture.Relation{Schema: "public", Table: "orders", Columns: []capture.Column{{Name: "id", TypeName: "int8", Key: true}}}
	audit  = &capture.Relation{Schema: "public", Table: "audit_log", Columns: []capture.Column{{Name: "id", TypeName: "int8", Key: true}}}
	source = capture.Source{SystemID: "7", Database: "shop", Timeline: 1}
)

// start is the slot's confirmed position when the fake session begins.
const start capture.LSN = 0x100

func connected() *capture.Connected {
	return &capture.Connected{Source: source, StartLSN: start}
}

// insert is the insert of order id (one event) or, for another relation, of
// an unmapped row (no event), in the transaction at lsn.
func insert(lsn capture.LSN, rel *capture.Relation, id int64) *capture.Change {
	return &capture.Change{Op: capture.OpInsert, FinalLSN: lsn, Index: uint32(id), Relation: rel,
		New: []capture.Value{{Kind: capture.KindValue, Data: id}}}
}

func begin(lsn capture.LSN) *capture.Begin { return &capture.Begin{FinalLSN: lsn} }

// commit ends the transaction at lsn; its end, the confirmable position, is
// lsn+8.
func commit(lsn capture.LSN) *capture.Commit {
	return &capture.Commit{FinalLSN: lsn, EndLSN: lsn + 8}
}

// tx is a whole transaction at lsn inserting the orders ids.
func tx(lsn capture.LSN, ids ...int64) []capture.Message {
	msgs := []capture.Message{begin(lsn)}
	for _, id := range ids {
		msgs = append(msgs, insert(lsn, orders, id))
	}
	return append(msgs, commit(lsn))
}

func heartbeat(lsn capture.LSN) *capture.Marker {
	return &capture.Marker{Kind: capture.MarkerHeartbeat, LSN: lsn}
}

// fakeSource hands on the chunks the test sends and records every Confirm.
type fakeSource struct {
	chunks chan []capture.Message

	mu        sync.Mutex
	confirmed []capture.LSN
}

func (s *fakeSource) Run(ctx context.Context, h capture.Handler) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case msgs := <-s.chunks:
			if err := h(ctx, msgs); err != nil {
				return err
			}
		}
	}
}

func (s *fakeSource) Confirm(lsn capture.LSN) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.confirmed = append(s.confirmed, lsn)
}

// last returns the last position confirmed, 0 if none.
func (s *fakeSource) last() capture.LSN {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.confirmed) == 0 {
		return 0
	}
	return s.confirmed[len(s.confirmed)-1]
}

// fakePublisher holds every batch until the test acknowledges it, in any
// order: the real one reports in call order, the flow must not rely on it.
type fakePublisher struct {
	mu      sync.Mutex
	batches []kafka.Batch
	onAck   []func(error)
	acked   []bool
	flushes int
	// flushDeadline is whether Flush's ctx had a deadline.
	flushDeadline bool
}

func (p *fakePublisher) Publish(_ context.Context, b kafka.Batch, onAck func(error)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.batches = append(p.batches, b)
	p.onAck = append(p.onAck, onAck)
	p.acked = append(p.acked, false)
}

// Flush acknowledges every batch still pending, as Kafka would.
func (p *fakePublisher) Flush(ctx context.Context) error {
	p.mu.Lock()
	p.flushes++
	_, p.flushDeadline = ctx.Deadline()
	n := len(p.batches)
	p.mu.Unlock()
	for i := range n {
		p.ack(i, nil)
	}
	return nil
}

// ack reports the i-th batch (from 0) once.
func (p *fakePublisher) ack(i int, err error) {
	p.mu.Lock()
	if p.acked[i] {
		p.mu.Unlock()
		return
	}
	p.acked[i] = true
	f := p.onAck[i]
	p.mu.Unlock()
	f(err)
}

func (p *fakePublisher) published() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.batches)
}

// fakeTx holds each transaction until the test commits it.
type fakeTx struct {
	commit chan error

	mu    sync.Mutex
	calls [][]kafka.TxRecord
}

func (p *fakeTx) Publish(ctx context.Context, recs []kafka.TxRecord, _ time.Time) ([]byte, error) {
	p.mu.Lock()
	p.calls = append(p.calls, slices.Clone(recs)) // the flow reuses recs
	p.mu.Unlock()
	select {
	case err := <-p.commit:
		if err != nil {
			return nil, err
		}
		return recs[len(recs)-1].Cut, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (p *fakeTx) MaxBytes() int { return 1 << 20 }

func (p *fakeTx) transactions() [][]kafka.TxRecord {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.calls)
}

// harness is a running Flow on fakes.
type harness struct {
	t      *testing.T
	src    *fakeSource
	pub    *fakePublisher // at-least-once mode
	tx     *fakeTx        // exactly-once mode
	digest string
	logs   *bytes.Buffer
	cancel context.CancelFunc
	done   chan error
}

// run starts a Flow; exactly selects exactly-once mode with the stored
// position stored.
func run(t *testing.T, exactly bool, stored []byte) *harness {
	t.Helper()
	return runWith(t, exactly, stored, nil)
}

// runWith is run with a progress gate (nil: no progress records).
func runWith(t *testing.T, exactly bool, stored []byte, gate flow.ProgressGate) *harness {
	t.Helper()
	m, err := pipeline.Parse("mapping.yaml", []byte(mappingSrc), nil, pipeline.LoadOptions{Schema: pipeline.SchemaOf(orders)})
	if err != nil {
		t.Fatal(err)
	}
	mp, err := pipeline.NewMapper(m, pipeline.MapperOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, src: &fakeSource{chunks: make(chan []capture.Message)}, digest: m.Digest(), logs: new(bytes.Buffer), done: make(chan error, 1)}
	parts := flow.Parts{Source: h.src, Mapper: mp, Mapping: m, Progress: gate}
	if exactly {
		h.tx = &fakeTx{commit: make(chan error)}
		parts.Tx = h.tx
	} else {
		h.pub = &fakePublisher{}
		parts.Publisher = h.pub
	}
	f, err := flow.New(flow.Config{
		DeadLetterTopic: "shop.dead",
		StoredPosition:  stored,
		Logger:          slog.New(slog.NewTextHandler(h.logs, nil)),
	}, parts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	h.cancel = cancel
	go func() { h.done <- f.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-h.done
	})
	return h
}

// hand makes capture hand on one chunk and waits until the flow settles.
func (h *harness) hand(msgs ...capture.Message) {
	h.src.chunks <- msgs
	synctest.Wait()
}

// stop cancels the flow and returns Run's error.
func (h *harness) stop() error {
	h.cancel()
	return h.wait()
}

// wait returns Run's error once it returned on its own.
func (h *harness) wait() error {
	err := <-h.done
	h.done <- err // for the cleanup
	return err
}

// step is one event of a test script: capture hands on a chunk, or Kafka
// acknowledges a batch.
type step struct {
	chunk []capture.Message
	ack   int // when chunk is nil: acknowledge the ack-th batch published (from 1)
	// want is the last position confirmed after the step (0: none yet).
	want capture.LSN
	// batches is how many batches were published after the step.
	batches int
}

func chunk(msgs ...capture.Message) []capture.Message { return msgs }

func TestAtLeastOnceConfirmRule(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
	}{
		{name: "acks confirm each transaction's end", steps: []step{
			{chunk: chunk(connected())},
			{chunk: tx(0x200, 1), batches: 1},
			{chunk: tx(0x300, 2), batches: 2},
			{ack: 1, want: 0x208, batches: 2},
			{ack: 2, want: 0x308, batches: 2},
		}},
		{name: "an ack out of order does not run ahead", steps: []step{
			{chunk: chunk(connected())},
			{chunk: tx(0x200, 1), batches: 1},
			{chunk: tx(0x300, 2), batches: 2},
			{chunk: tx(0x400, 3), batches: 3},
			{ack: 3, want: 0, batches: 3},
			{ack: 2, want: 0, batches: 3},
			{ack: 1, want: 0x408, batches: 3},
		}},
		{name: "a chunk in the middle of a transaction confirms nothing new", steps: []step{
			{chunk: chunk(connected())},
			{chunk: tx(0x200, 1), batches: 1},
			{ack: 1, want: 0x208, batches: 1},
			{chunk: chunk(begin(0x300), insert(0x300, orders, 2)), want: 0x208, batches: 2},
			{ack: 2, want: 0x208, batches: 2},
			{chunk: chunk(insert(0x300, orders, 3), commit(0x300)), want: 0x208, batches: 3},
			{ack: 3, want: 0x308, batches: 3},
		}},
		{name: "a heartbeat confirms without a publish", steps: []step{
			{chunk: chunk(connected(), heartbeat(0x500)), want: 0x500},
			{chunk: chunk(heartbeat(0x600)), want: 0x600},
		}},
		{name: "a transaction of unmapped tables confirms at its end", steps: []step{
			{chunk: chunk(connected())},
			{chunk: chunk(begin(0x200), insert(0x200, audit, 1), commit(0x200)), want: 0x208},
		}},
		{name: "a heartbeat waits behind a pending batch", steps: []step{
			{chunk: chunk(connected())},
			{chunk: tx(0x200, 1), batches: 1},
			{chunk: chunk(heartbeat(0x300)), batches: 1},
			{ack: 1, want: 0x300, batches: 1},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := run(t, false, nil)
				for i, s := range tt.steps {
					if s.chunk != nil {
						h.hand(s.chunk...)
					} else {
						h.pub.ack(s.ack-1, nil)
						synctest.Wait()
					}
					if got := h.src.last(); got != s.want {
						t.Fatalf("step %d: last Confirm = %s; want %s (all: %v)", i, got, s.want, h.src.confirmed)
					}
					if got := h.pub.published(); got != s.batches {
						t.Fatalf("step %d: %d batches published; want %d", i, got, s.batches)
					}
				}
				if err := h.stop(); !errors.Is(err, context.Canceled) {
					t.Errorf("Run after cancel = %v; want context.Canceled", err)
				}
			})
		})
	}
}

func TestAtLeastOnceRecords(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := run(t, false, nil)
		h.hand(connected())
		h.hand(tx(0x200, 1, 2)...)
		h.pub.mu.Lock()
		b := h.pub.batches[0]
		h.pub.mu.Unlock()
		var keys []string
		for _, r := range b.Records {
			if r.Topic != "shop.order" {
				t.Errorf("record topic = %q; want shop.order", r.Topic)
			}
			keys = append(keys, string(r.Key))
		}
		if !slices.Equal(keys, []string{"1", "2"}) {
			t.Errorf("batch keys = %q; want [1 2]", keys)
		}
	})
}

// TestAtLeastOnceCursors: in at-least-once mode every record carries its
// cursor and the stream, so that the publisher can skip on a restart what
// each partition holds; a restart that resends the same WAL numbers the
// records the same way.
func TestAtLeastOnceCursors(t *testing.T) {
	var digest string
	batches := func() []kafka.Batch {
		var out []kafka.Batch
		synctest.Test(t, func(t *testing.T) {
			h := run(t, false, nil)
			digest = h.digest
			h.hand(connected())
			h.hand(tx(0x200, 1, 2)...)
			h.hand(begin(0x300), insert(0x300, orders, 3))
			h.hand(insert(0x300, orders, 4), commit(0x300))
			h.pub.mu.Lock()
			out = slices.Clone(h.pub.batches)
			h.pub.mu.Unlock()
		})
		return out
	}
	first := batches()
	var got []kafka.Cursor
	for _, b := range first {
		if len(b.Cursors) != len(b.Records) {
			t.Fatalf("batch has %d cursors for %d records", len(b.Cursors), len(b.Records))
		}
		if want := kafka.StreamID(source.URI(), digest); b.Stream != want {
			t.Fatalf("batch stream = %x; want %x (source and mapping)", b.Stream, want)
		}
		got = append(got, b.Cursors...)
	}
	want := []kafka.Cursor{{LSN: 0x200, N: 1}, {LSN: 0x200, N: 2}, {LSN: 0x300, N: 1}, {LSN: 0x300, N: 2}}
	if !slices.Equal(got, want) {
		t.Errorf("cursors = %v; want %v", got, want)
	}
	again := batches()
	if len(again) != len(first) || again[0].Stream != first[0].Stream || !slices.Equal(again[len(again)-1].Cursors, first[len(first)-1].Cursors) {
		t.Errorf("a restart numbers the records differently: %v, then %v", first, again)
	}
}

// TestCursorsCloseEpoch: the records of a snapshot's end marker, and only
// those, close their epoch, so that a restart can tell the snapshot is
// complete in Kafka.
func TestCursorsCloseEpoch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := run(t, false, nil)
		h.hand(connected())
		const unit = start - 1
		h.hand(&capture.Marker{Kind: capture.MarkerSnapshotBegin, LSN: unit, Epoch: uint64(start), Tables: []*capture.Relation{orders}},
			&capture.Change{Op: capture.OpRead, FinalLSN: unit, Index: 1, Relation: orders, Epoch: uint64(start), New: []capture.Value{{Kind: capture.KindValue, Data: int64(1)}}},
			&capture.Marker{Kind: capture.MarkerSnapshotEnd, LSN: unit, Epoch: uint64(start), Tables: []*capture.Relation{orders}})
		h.hand(tx(0x200, 2)...)
		h.pub.mu.Lock()
		defer h.pub.mu.Unlock()
		var closing []bool
		for _, b := range h.pub.batches {
			for _, c := range b.Cursors {
				closing = append(closing, c.ClosesEpoch)
			}
		}
		// begin marker, end marker, the insert (the test mapping maps no
		// snapshot row)
		if want := []bool{false, true, false}; !slices.Equal(closing, want) {
			t.Errorf("ClosesEpoch of the records = %v; want %v", closing, want)
		}
	})
}

func TestAtLeastOnceStops(t *testing.T) {
	errBoom := errors.New("broker gone")
	t.Run("a publish error stops Run with that error", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := run(t, false, nil)
			h.hand(connected())
			h.hand(tx(0x200, 1)...)
			h.hand(tx(0x300, 2)...)
			h.pub.ack(1, nil)
			h.pub.ack(0, errBoom) // nothing else is queued: Run must stop anyway
			err := h.wait()
			if !errors.Is(err, errBoom) || !strings.HasPrefix(err.Error(), "publish to kafka: ") {
				t.Errorf("Run = %v; want publish to kafka: %v", err, errBoom)
			}
			if got := h.src.last(); got != 0 {
				t.Errorf("last Confirm = %s after a failed batch; want none", got)
			}
		})
	})
	t.Run("a cancel drains the publisher and returns", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := run(t, false, nil)
			h.hand(connected())
			h.hand(tx(0x200, 1)...)
			if err := h.stop(); !errors.Is(err, context.Canceled) {
				t.Errorf("Run after cancel = %v; want context.Canceled", err)
			}
			if h.pub.flushes != 1 || !h.pub.flushDeadline {
				t.Errorf("Flush called %d times (deadline %v); want once, bounded", h.pub.flushes, h.pub.flushDeadline)
			}
			if logs := h.logs.String(); !strings.Contains(logs, "msg=stopped acknowledged_lsn=0/208 changes=1 events=1 dead_letters=0") {
				t.Errorf("logs = %s; want the stop line with the drained position 0/208", logs)
			}
		})
	})
}

// cursor is the stored form of an exactly-once position (docs/delivery.md).
type cursor struct {
	Source  string `json:"source"`
	LSN     string `json:"lsn"`
	Records uint32 `json:"records"`
	Mapping string `json:"mapping,omitempty"`
}

func decodeCut(t *testing.T, b []byte) cursor {
	t.Helper()
	var c cursor
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatalf("decode cut %q: %v", b, err)
	}
	return c
}

func TestExactlyOnceConfirmsCommitted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := run(t, true, nil)
		h.hand(connected())
		h.hand(tx(0x200, 1, 2)...)
		txs := h.tx.transactions()
		if len(txs) != 1 || len(txs[0]) != 2 {
			t.Fatalf("transactions = %v; want one of 2 records", txs)
		}
		if got := h.src.last(); got != 0 {
			t.Fatalf("last Confirm = %s before the Kafka transaction committed; want none", got)
		}
		// A chunk in the middle of a transaction waits in the queue while
		// the first Kafka transaction commits.
		h.hand(begin(0x300), insert(0x300, orders, 3))
		if got := h.src.last(); got != 0 {
			t.Fatalf("last Confirm = %s before the Kafka transaction committed; want none", got)
		}
		h.tx.commit <- nil
		synctest.Wait()
		if got := h.src.last(); got != 0x208 {
			t.Fatalf("last Confirm = %s after the commit; want 0/208", got)
		}
		want := cursor{Source: source.URI(), LSN: "0/200", Records: 2, Mapping: h.digest}
		if got := decodeCut(t, txs[0][1].Cut); got != want || txs[0][0].Cut != nil {
			t.Errorf("cuts = %q, %+v; want none, %+v", txs[0][0].Cut, got, want)
		}
		// The half transaction's Kafka transaction commits: nothing new is
		// confirmable until its end.
		h.tx.commit <- nil
		synctest.Wait()
		if got := h.src.last(); got != 0x208 {
			t.Fatalf("last Confirm = %s after half of transaction 0/300 committed; want 0/208", got)
		}
		h.hand(insert(0x300, orders, 4), commit(0x300))
		h.tx.commit <- nil
		synctest.Wait()
		if got := h.src.last(); got != 0x308 {
			t.Fatalf("last Confirm = %s; want 0/308", got)
		}
		txs = h.tx.transactions()
		if got, want := decodeCut(t, txs[2][0].Cut), (cursor{Source: source.URI(), LSN: "0/300", Records: 2, Mapping: h.digest}); got != want {
			t.Errorf("cut of the second half of 0/300 = %+v; want %+v", got, want)
		}
	})
}

func TestExactlyOnceSkipsStored(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		stored, _ := json.Marshal(cursor{Source: source.URI(), LSN: "0/300", Records: 1})
		h := run(t, true, stored)
		h.hand(connected())
		// A restart resends from the slot's position: transaction 0/200 is
		// in Kafka whole, 0/300 up to its first record.
		h.hand(tx(0x200, 1)...)
		if got := h.src.last(); got != 0x208 {
			t.Fatalf("last Confirm = %s after a transaction already in Kafka; want 0/208", got)
		}
		h.hand(tx(0x300, 2, 3)...)
		txs := h.tx.transactions()
		if len(txs) != 1 || len(txs[0]) != 1 || string(txs[0][0].Record.Key) != "3" {
			t.Fatalf("transactions = %v; want one holding order 3 only", txs)
		}
		if got := h.src.last(); got != 0x208 {
			t.Fatalf("last Confirm = %s before the commit; want 0/208", got)
		}
		h.tx.commit <- nil
		synctest.Wait()
		if got := h.src.last(); got != 0x308 {
			t.Fatalf("last Confirm = %s after the commit; want 0/308", got)
		}
	})
}

func TestExactlyOnceStops(t *testing.T) {
	t.Run("a publish error stops Run with that error", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			errBoom := errors.New("broker gone")
			h := run(t, true, nil)
			h.hand(connected())
			h.hand(tx(0x200, 1)...)
			h.tx.commit <- errBoom
			err := h.wait()
			if !errors.Is(err, errBoom) || !strings.HasPrefix(err.Error(), "exactly-once: publish kafka transaction: ") {
				t.Errorf("Run = %v; want exactly-once: publish kafka transaction: %v", err, errBoom)
			}
			if got := h.src.last(); got != 0 {
				t.Errorf("last Confirm = %s after a failed transaction; want none", got)
			}
		})
	})
	t.Run("a cancel lets the transaction under way commit", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := run(t, true, nil)
			h.hand(connected())
			h.hand(tx(0x200, 1)...)
			h.cancel()
			synctest.Wait()
			h.tx.commit <- nil
			if err := h.stop(); !errors.Is(err, context.Canceled) {
				t.Errorf("Run after cancel = %v; want context.Canceled", err)
			}
			if logs := h.logs.String(); !strings.Contains(logs, "msg=stopped acknowledged_lsn=0/208") {
				t.Errorf("logs = %s; want the stop line with the committed position 0/208", logs)
			}
		})
	})
	t.Run("a cancel gives the transaction 10s", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := run(t, true, nil)
			h.hand(connected())
			h.hand(tx(0x200, 1)...)
			began := time.Now()
			if err := h.stop(); !errors.Is(err, context.Canceled) {
				t.Errorf("Run after cancel = %v; want context.Canceled", err)
			}
			if waited := time.Since(began); waited != 10*time.Second {
				t.Errorf("Run returned %v after the cancel; want 10s", waited)
			}
			if logs := h.logs.String(); !strings.Contains(logs, "msg=stopped acknowledged_lsn=0/100") {
				t.Errorf("logs = %s; want the stop line with the start position 0/100", logs)
			}
		})
	})
}

func TestNewErrors(t *testing.T) {
	m, err := pipeline.Parse("mapping.yaml", []byte(mappingSrc), nil, pipeline.LoadOptions{Schema: pipeline.SchemaOf(orders)})
	if err != nil {
		t.Fatal(err)
	}
	mp, err := pipeline.NewMapper(m, pipeline.MapperOptions{})
	if err != nil {
		t.Fatal(err)
	}
	src, pub, txp := &fakeSource{}, &fakePublisher{}, &fakeTx{}
	cfg := flow.Config{DeadLetterTopic: "shop.dead"}
	tests := []struct {
		name  string
		cfg   flow.Config
		parts flow.Parts
		want  string
	}{
		{name: "no source", cfg: cfg, parts: flow.Parts{Mapper: mp, Mapping: m, Publisher: pub}, want: "a source, a mapper and its mapping are required"},
		{name: "no publisher", cfg: cfg, parts: flow.Parts{Source: src, Mapper: mp, Mapping: m}, want: "exactly one of"},
		{name: "both publishers", cfg: cfg, parts: flow.Parts{Source: src, Mapper: mp, Mapping: m, Publisher: pub, Tx: txp}, want: "exactly one of"},
		{name: "no dead-letter topic", parts: flow.Parts{Source: src, Mapper: mp, Mapping: m, Publisher: pub}, want: "dead-letter topic"},
		{name: "bad stored position", cfg: flow.Config{DeadLetterTopic: "d", StoredPosition: []byte("{")},
			parts: flow.Parts{Source: src, Mapper: mp, Mapping: m, Tx: txp}, want: "exactly-once: parse stored position"},
		{name: "negative queue budget", cfg: flow.Config{DeadLetterTopic: "d", MaxQueueBytes: -1},
			parts: flow.Parts{Source: src, Mapper: mp, Mapping: m, Publisher: pub}, want: "negative budget"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := flow.New(tt.cfg, tt.parts); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New = %v; want an error containing %q", err, tt.want)
			}
		})
	}
}

// TestRecordsEndLSN: the records of a transaction whose commit is in the
// chunk carry its end LSN; those of a transaction still open at the end of
// the chunk do not (the commit's end is not known yet), and when its commit
// comes in a later chunk only the records of that chunk carry it.
func TestRecordsEndLSN(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := run(t, false, nil)
		h.hand(connected())
		h.hand(append(tx(0x200, 1, 2), begin(0x300), insert(0x300, orders, 3))...)
		h.hand(insert(0x300, orders, 4), commit(0x300))
		h.pub.mu.Lock()
		batches := slices.Clone(h.pub.batches)
		h.pub.mu.Unlock()
		var got []capture.LSN
		for _, b := range batches {
			for _, r := range b.Records {
				got = append(got, r.EndLSN)
			}
		}
		if want := []capture.LSN{0x208, 0x208, 0, 0x308}; !slices.Equal(got, want) {
			t.Errorf("records' end LSNs = %X; want %X", got, want)
		}
	})
}
