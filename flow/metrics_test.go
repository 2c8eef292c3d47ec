package flow_test

import (
	"context"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/flow"
	"github.com/cdcflow/cdcflow/pipeline"
	"github.com/cdcflow/cdcflow/sinks/kafka"
)

// gatedPublisher blocks every Publish until open is closed, then
// acknowledges at once.
type gatedPublisher struct{ open chan struct{} }

func (p *gatedPublisher) Publish(ctx context.Context, _ kafka.Batch, onAck func(error)) {
	select {
	case <-p.open:
		onAck(nil)
	case <-ctx.Done():
		onAck(ctx.Err())
	}
}

func (p *gatedPublisher) Flush(context.Context) error { return nil }

// TestMapMetrics stalls Kafka so that the mapping stage backs up to
// capture's handler: the chunks in flight count what was handed to the
// workers and not yet queued, the handler's wait is counted as blocked
// time, and once Kafka takes everything nothing is in flight.
func TestMapMetrics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m, err := pipeline.Parse("mapping.yaml", []byte(mappingSrc), nil, pipeline.LoadOptions{Schema: pipeline.SchemaOf(orders)})
		if err != nil {
			t.Fatal(err)
		}
		mp, err := pipeline.NewMapper(m, pipeline.MapperOptions{})
		if err != nil {
			t.Fatal(err)
		}
		reg := prometheus.NewRegistry()
		mm := flow.NewMetrics(reg)
		src := &fakeSource{chunks: make(chan []capture.Message)}
		pub := &gatedPublisher{open: make(chan struct{})}
		f, err := flow.New(flow.Config{DeadLetterTopic: "shop.dead", MapWorkers: 1, MaxQueueRecords: 1, MapMetrics: mm},
			flow.Parts{Source: src, Mapper: mp, Mapping: m, Publisher: pub})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- f.Run(ctx) }()
		gauge := func(name string) float64 {
			t.Helper()
			fams, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			for _, fam := range fams {
				if fam.GetName() == name && len(fam.GetMetric()) == 1 {
					m := fam.GetMetric()[0]
					if g := m.GetGauge(); g != nil {
						return g.GetValue()
					}
					return m.GetCounter().GetValue()
				}
			}
			t.Fatalf("no single series %s", name)
			return 0
		}
		if got := gauge("cdcflow_flow_map_workers"); got != 1 {
			t.Errorf("cdcflow_flow_map_workers = %v; want 1", got)
		}
		// One chunk in Publish, one in the queue (its budget is one
		// batch), one in the sequencer's Put, two mapped in the
		// sequencer's channel (two per worker), and the sixth waits in the
		// handler.
		lsn := capture.LSN(0x200)
		chunks := [][]capture.Message{append([]capture.Message{connected()}, tx(lsn, 1)...)}
		for i := range 5 {
			lsn += 0x100
			chunks = append(chunks, tx(lsn, int64(i+2)))
		}
		for _, c := range chunks {
			src.chunks <- c
			synctest.Wait()
		}
		if got := gauge("cdcflow_flow_map_chunks_in_flight"); got != 4 {
			t.Errorf("cdcflow_flow_map_chunks_in_flight = %v with Kafka stalled; want 4", got)
		}
		time.Sleep(time.Second) // the handler stays blocked meanwhile
		close(pub.open)
		synctest.Wait()
		if got := gauge("cdcflow_flow_map_chunks_in_flight"); got != 0 {
			t.Errorf("cdcflow_flow_map_chunks_in_flight = %v once Kafka took everything; want 0", got)
		}
		if got := gauge("cdcflow_flow_map_handoff_blocked_seconds_total"); got != 1 {
			t.Errorf("cdcflow_flow_map_handoff_blocked_seconds_total = %v; want 1 (the second Kafka stalled with the handler waiting)", got)
		}
		if got, want := src.last(), lsn+8; got != want {
			t.Errorf("confirmed %s; want %s", got, want)
		}
		cancel()
		<-done
	})
}

// TestMapBudgetBoundsBytes stalls Kafka with chunks of wide rows: capture's
// handler stops at the mapping stage's byte budget although its chunk
// count would allow more, and goes on once Kafka takes the records.
func TestMapBudgetBoundsBytes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m, err := pipeline.Parse("mapping.yaml", []byte(mappingSrc), nil, pipeline.LoadOptions{Schema: pipeline.SchemaOf(orders)})
		if err != nil {
			t.Fatal(err)
		}
		mp, err := pipeline.NewMapper(m, pipeline.MapperOptions{})
		if err != nil {
			t.Fatal(err)
		}
		reg := prometheus.NewRegistry()
		src := &fakeSource{chunks: make(chan []capture.Message)}
		pub := &gatedPublisher{open: make(chan struct{})}
		const wide = 10_000 // bytes of an unmapped row's text
		f, err := flow.New(flow.Config{DeadLetterTopic: "shop.dead", MapWorkers: 2, MaxQueueRecords: 1, MaxMapBytes: 15_000, MapMetrics: flow.NewMetrics(reg)},
			flow.Parts{Source: src, Mapper: mp, Mapping: m, Publisher: pub})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- f.Run(ctx) }()
		value := func(name string) float64 {
			t.Helper()
			fams, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			for _, fam := range fams {
				if fam.GetName() == name {
					return fam.GetMetric()[0].GetGauge().GetValue()
				}
			}
			t.Fatalf("no series %s", name)
			return 0
		}
		// Each transaction inserts an order (an event) and a wide unmapped
		// row. The first is in Publish, the second in the queue, the third
		// in the sequencer's Put; the fourth does not fit beside it.
		lsn := capture.LSN(0x200)
		var chunks [][]capture.Message
		for i := range 4 {
			lsn += 0x100
			row := &capture.Change{Op: capture.OpInsert, FinalLSN: lsn, Index: 1, Relation: audit,
				New: []capture.Value{{Kind: capture.KindValue, Data: strings.Repeat("w", wide)}}}
			c := []capture.Message{begin(lsn), insert(lsn, orders, int64(i+1)), row, commit(lsn)}
			if i == 0 {
				c = append([]capture.Message{connected()}, c...)
			}
			chunks = append(chunks, c)
		}
		for _, c := range chunks {
			src.chunks <- c
			synctest.Wait()
		}
		if got := value("cdcflow_flow_map_chunks_in_flight"); got != 1 {
			t.Errorf("cdcflow_flow_map_chunks_in_flight = %v with the fourth chunk over the byte budget; want 1 (the count bound allows 4)", got)
		}
		if got := value("cdcflow_flow_map_bytes_in_flight"); got < wide || got > 15_000 {
			t.Errorf("cdcflow_flow_map_bytes_in_flight = %v; want one chunk's estimate, over %d and within the budget", got, wide)
		}
		close(pub.open)
		synctest.Wait()
		if got := value("cdcflow_flow_map_bytes_in_flight"); got != 0 {
			t.Errorf("cdcflow_flow_map_bytes_in_flight = %v once Kafka took everything; want 0", got)
		}
		if got, want := src.last(), lsn+8; got != want {
			t.Errorf("confirmed %s; want %s", got, want)
		}
		cancel()
		<-done
	})
}
