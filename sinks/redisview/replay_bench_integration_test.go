package redisview

import (
	"fmt"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cdcflow/cdcflow/internal/services"
	"github.com/cdcflow/cdcflow/internal/testenv"
	"github.com/cdcflow/cdcflow/pipeline"
)

// TestIntegrationReplayRate measures a replay of CDCFLOW_BENCH_EVENTS events
// (default 200000) from the in-process broker into a new generation: its rate
// and the test process's peak RSS (which includes the broker). It runs only
// with CDCFLOW_BENCH=1.
func TestIntegrationReplayRate(t *testing.T) {
	if os.Getenv("CDCFLOW_BENCH") == "" {
		t.Skip("set CDCFLOW_BENCH=1 to measure a replay")
	}
	n := 200000
	if s := os.Getenv("CDCFLOW_BENCH_EVENTS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			t.Fatal(err)
		}
	}
	ctx := t.Context()
	srv := testenv.Redis(t)
	rdb := srv.Client(t)
	k := testenv.NewKafka(t, services.KafkaOptions{Partitions: testPartitions})
	prod := k.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(5*time.Millisecond))
	start := time.Now()
	const chunk = 5000
	for done := 0; done < n; done += chunk {
		var krs []*kgo.Record
		for i := done; i < min(done+chunk, n); i++ {
			id := fmt.Sprintf("o%d", i/2)
			var ev pipeline.Event
			if i%2 == 0 {
				ev = orderEvent(id, "OrderRequested", uint64(i+1), map[string]any{"customer_id": fmt.Sprintf("c%d", i%100), "total": "10.50", "ordered_at": "2026-11-23T23:30:00Z"})
			} else {
				ev = orderEvent(id, "OrderAccepted", uint64(i+1), nil)
			}
			ev.Position = testPosition(uint64(i+1), 0)
			enc, err := pipeline.EncodeEvent(ev, "shop.order", pipeline.Structured)
			if err != nil {
				t.Fatal(err)
			}
			kr := &kgo.Record{Topic: "shop.order", Partition: partitionOf(id), Key: enc.Key, Value: enc.Value}
			for _, h := range enc.Headers {
				kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
			}
			krs = append(krs, kr)
		}
		if err := prod.ProduceSync(ctx, krs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("produced %d events in %v", n, time.Since(start).Round(time.Millisecond))
	start = time.Now()
	cpu0, r0 := selfCPU(t), redisCPU(t, rdb)
	gen, err := Replay(ctx, ReplayConfig{
		Consumer: ConsumerConfig{Brokers: k.Addrs(), Group: "bench", Topics: []string{"shop.order"}, MaxPollRecords: 2000},
		Views:    Config{Prefix: srv.Prefix(t)},
	}, testDefinitions(t), rdb)
	if err != nil || gen != 1 {
		t.Fatalf("Replay = %d, %v", gen, err)
	}
	el := time.Since(start)
	goCPU, rCPU := selfCPU(t)-cpu0, redisCPU(t, rdb)-r0
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	t.Logf("replayed %d events in %v: %.0f events/s; CPU: test process (consumer, Views and broker) %.1f s = %.1f µs/event, redis-server %.1f s = %.1f µs/event; peak RSS of the test process (broker included) %d MiB",
		n, el.Round(time.Millisecond), float64(n)/el.Seconds(), goCPU, goCPU/float64(n)*1e6, rCPU, rCPU/float64(n)*1e6, ru.Maxrss/1024)
}
