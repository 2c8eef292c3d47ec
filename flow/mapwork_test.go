package flow_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/flow"
	"github.com/cdcflow/cdcflow/pipeline"
	"github.com/cdcflow/cdcflow/sinks/kafka"
)

// A mapping whose orders gather the lines inserted in their transaction,
// whose lines map on their own otherwise, and whose line rule fails (a dead
// letter) on a negative quantity.
const gatherMappingSrc = `version: 1
topics: {prefix: shop.}
tables:
  - table: orders
    aggregate: {type: order, id: string(row.id)}
    events:
      - type: OrderPlaced
        version: 1
        when: op == "insert"
        data: {order_id: row.id}
        gather:
          - field: lines
            table: lines
            key: string(row.order_id)
            when: op == "insert"
            data: {no: row.no, qty: row.qty}
  - table: lines
    aggregate: {type: order, id: string(row.order_id)}
    events:
      - type: LineAdded
        version: 1
        when: op == "insert"
        data: {no: row.no, qty: '10 / row.qty'}
`

var lines = &capture.Relation{Schema: "public", Table: "lines", Columns: []capture.Column{
	{Name: "order_id", TypeName: "int8", Key: true}, {Name: "no", TypeName: "int4", Key: true}, {Name: "qty", TypeName: "int4"}}}

// collector acknowledges every batch at once and keeps what it published.
type collector struct {
	mu      sync.Mutex
	records []string
}

func (c *collector) Publish(_ context.Context, b kafka.Batch, onAck func(error)) {
	c.mu.Lock()
	for i, r := range b.Records {
		c.records = append(c.records, fmt.Sprintf("%s %s %v %s", r.Topic, r.Key, b.Cursors[i], r.Value))
	}
	c.mu.Unlock()
	onAck(nil)
}

func (c *collector) Flush(context.Context) error { return nil }

// wideStream is a seeded stream of transactions: orders with their lines,
// lines of earlier orders, unmapped rows, and now and then a line that
// fails to map; cut into chunks of 1 to 7 messages, so that transactions
// span chunks and chunks hold several transactions.
func wideStream(seed uint64) ([][]capture.Message, capture.LSN) {
	r := rand.New(rand.NewPCG(seed, 1))
	msgs := []capture.Message{connected()}
	lsn := start
	for id := int64(1); id <= 80; id++ {
		lsn += 0x100
		msgs = append(msgs, begin(lsn))
		var idx uint32
		change := func(rel *capture.Relation, vals ...int64) {
			c := &capture.Change{Op: capture.OpInsert, FinalLSN: lsn, Index: idx, Relation: rel}
			for _, v := range vals {
				c.New = append(c.New, capture.Value{Kind: capture.KindValue, Data: v})
			}
			msgs = append(msgs, c)
			idx++
		}
		change(orders, id)
		for no := range r.IntN(4) {
			change(lines, id, int64(no), int64(1+r.IntN(5)))
		}
		if id > 1 && r.IntN(3) == 0 {
			qty := int64(1 + r.IntN(5))
			if r.IntN(4) == 0 {
				qty = 0 // 10 / 0: a dead letter
			}
			change(lines, 1+r.Int64N(id-1), 9, qty)
		}
		if r.IntN(2) == 0 {
			change(audit, id)
		}
		msgs = append(msgs, commit(lsn))
	}
	var chunks [][]capture.Message
	for len(msgs) > 0 {
		n := min(len(msgs), 1+r.IntN(7))
		chunks = append(chunks, msgs[:n])
		msgs = msgs[n:]
	}
	return chunks, lsn + 8
}

// publishAll runs a flow with workers mapping workers over chunks until it
// settles, checks that it confirmed end, and returns what it published.
func publishAll(t *testing.T, m *pipeline.Mapping, chunks [][]capture.Message, workers int, end capture.LSN) []string {
	t.Helper()
	var out []string
	synctest.Test(t, func(t *testing.T) {
		mp, err := pipeline.NewMapper(m, pipeline.MapperOptions{})
		if err != nil {
			t.Fatal(err)
		}
		src := &fakeSource{chunks: make(chan []capture.Message)}
		pub := &collector{}
		f, err := flow.New(flow.Config{DeadLetterTopic: "shop.dead", MapWorkers: workers},
			flow.Parts{Source: src, Mapper: mp, Mapping: m, Publisher: pub})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- f.Run(ctx) }()
		for _, c := range chunks {
			src.chunks <- c
		}
		synctest.Wait()
		if got := src.last(); got != end {
			t.Errorf("%d workers: confirmed %s; want %s", workers, got, end)
		}
		cancel()
		<-done
		out = pub.records
	})
	return out
}

// TestParallelMappingKeepsOrder maps the same chunked stream with one and
// with several mapping workers: the records handed to Kafka, their order
// and their cursors are the same, and every position up to the last commit
// is confirmed.
func TestParallelMappingKeepsOrder(t *testing.T) {
	m, err := pipeline.Parse("mapping.yaml", []byte(gatherMappingSrc), nil, pipeline.LoadOptions{Schema: pipeline.SchemaOf(orders, lines)})
	if err != nil {
		t.Fatal(err)
	}
	chunks, end := wideStream(7)
	runFlow := func(workers int) []string { return publishAll(t, m, chunks, workers, end) }
	want := runFlow(1)
	var gathered, dead, alone int
	for _, r := range want {
		switch {
		case strings.Contains(r, `"lines":[{`):
			gathered++
		case strings.Contains(r, "cdcflow.DeadLetter") || strings.Contains(r, "shop.dead"):
			dead++
		case strings.Contains(r, `"type":"LineAdded"`):
			alone++
		}
	}
	if gathered == 0 || dead == 0 || alone == 0 {
		t.Fatalf("the stream lacks a case: %d gathered orders, %d dead letters, %d lines on their own in %d records", gathered, dead, alone, len(want))
	}
	for _, workers := range []int{2, 5} {
		got := runFlow(workers)
		if len(got) != len(want) {
			t.Fatalf("%d workers: %d records; one worker: %d", workers, len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%d workers: record %d is\n%s\none worker:\n%s", workers, i, got[i], want[i])
			}
		}
	}
}

// TestParallelMappingStopsInOrder breaks a rule in the middle of the stream
// (a used column dropped): with several workers, as with one, the flow
// stops with the rule's error, and Kafka gets exactly the records of the
// chunks before the one that broke it.
func TestParallelMappingStopsInOrder(t *testing.T) {
	m, err := pipeline.Parse("mapping.yaml", []byte(gatherMappingSrc), nil, pipeline.LoadOptions{Schema: pipeline.SchemaOf(orders, lines)})
	if err != nil {
		t.Fatal(err)
	}
	chunks, _ := wideStream(11)
	// From the middle chunk on, lines lost the quantity column.
	broken := &capture.Relation{Schema: "public", Table: "lines", Columns: lines.Columns[:2]}
	cut := len(chunks) / 2
	first := -1 // the first chunk with a change of the broken shape
	var chunksBroken [][]capture.Message
	for i, c := range chunks {
		c = slices.Clone(c)
		for j, msg := range c {
			if ch, ok := msg.(*capture.Change); ok && i >= cut && ch.Relation == lines {
				cp := *ch
				cp.Relation, cp.New = broken, cp.New[:2]
				c[j] = &cp
				if first < 0 {
					first = i
				}
			}
		}
		chunksBroken = append(chunksBroken, c)
	}
	// What may reach Kafka: the records of the chunks before the first
	// broken change, all of them or, as the flow stops, fewer.
	before := publishAll(t, m, chunks[:first], 1, capture.Confirmable(chunks[first-1]))
	runFlow := func(workers int) ([]string, error) {
		var out []string
		var runErr error
		synctest.Test(t, func(t *testing.T) {
			mp, err := pipeline.NewMapper(m, pipeline.MapperOptions{})
			if err != nil {
				t.Fatal(err)
			}
			src := &fakeSource{chunks: make(chan []capture.Message, len(chunksBroken))}
			for _, c := range chunksBroken {
				src.chunks <- c
			}
			pub := &collector{}
			f, err := flow.New(flow.Config{DeadLetterTopic: "shop.dead", MapWorkers: workers},
				flow.Parts{Source: src, Mapper: mp, Mapping: m, Publisher: pub})
			if err != nil {
				t.Fatal(err)
			}
			runErr = f.Run(t.Context())
			out = pub.records
		})
		return out, runErr
	}
	for _, workers := range []int{1, 2, 4} {
		got, err := runFlow(workers)
		if err == nil || !strings.Contains(err.Error(), `uses column "qty", which was dropped`) {
			t.Fatalf("%d workers: Run = %v; want the broken rule's error", workers, err)
		}
		if len(got) > len(before) || !slices.Equal(got, before[:len(got)]) {
			t.Fatalf("%d workers: published %d records, not a prefix of the %d records before the broken change", workers, len(got), len(before))
		}
	}
}
