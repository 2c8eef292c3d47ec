package redisview

import (
	"fmt"
	"testing"
	"time"

	"github.com/cdcflow/cdcflow/internal/testenv"
	"github.com/cdcflow/cdcflow/pipeline"
)

// BenchmarkApply applies batches of 100 events (requests and transitions of
// 50 orders, every view of testdata/orders.views.yaml) to a real Redis and
// reports events per second.
func BenchmarkApply(b *testing.B) {
	ctx := b.Context()
	srv := testenv.Redis(b)
	rdb := srv.Client(b)
	v, err := New(Config{Prefix: srv.Prefix(b)}, testDefinitions(b), rdb)
	if err != nil {
		b.Fatal(err)
	}
	if err := v.Preflight(ctx); err != nil {
		b.Fatal(err)
	}
	const batch, orders = 100, 50
	var lsn uint64
	stored, next := int64(-1), int64(0)
	b.ReportAllocs()
	start := time.Now()
	events := 0
	for b.Loop() {
		bt := Batch{Topic: "shop.order", Partition: 0, From: stored}
		for i := range batch {
			lsn++
			id := fmt.Sprintf("o%d", ((lsn-1)/2)%orders)
			var ev pipeline.Event
			if i%2 == 0 {
				ev = orderEvent(id, "OrderRequested", lsn, map[string]any{"customer_id": "c1", "total": "10.50", "ordered_at": "2026-11-23T23:30:00Z"})
			} else {
				ev = orderEvent(id, "OrderAccepted", lsn, nil)
			}
			ev.Position = pipeline.MakePosition(0, uint32(lsn), 0)
			bt.Records = append(bt.Records, Record{Offset: next, Event: ev})
			next++
		}
		if err := v.Apply(ctx, bt); err != nil {
			b.Fatal(err)
		}
		stored = next
		events += batch
	}
	b.ReportMetric(float64(events)/time.Since(start).Seconds(), "events/s")
}
