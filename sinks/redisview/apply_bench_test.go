package redisview

import (
	"testing"
	"time"

	"github.com/cdcflow/cdcflow/internal/testenv"
)

// BenchmarkApply applies batches of benchBatch (100 events: 50 new orders
// and 50 orders of the previous batch accepted, every view of
// testdata/orders.views.yaml) to a real Redis, one partition, one batch at a
// time, and reports events per second. Building the events is included.
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
	const size = 100
	b.ReportAllocs()
	start := time.Now()
	events := 0
	for k := 0; b.Loop(); k++ {
		from := benchStart(k, size)
		if k == 0 {
			from = -1
		}
		bt := Batch{Topic: "shop.order", Partition: 0, From: from, Records: benchRecords(benchBatch(0, k, size), benchStart(k, size))}
		if err := v.Apply(ctx, bt); err != nil {
			b.Fatal(err)
		}
		events += len(bt.Records)
	}
	b.ReportMetric(float64(events)/time.Since(start).Seconds(), "events/s")
}
