package redisview

import (
	"context"
	"fmt"
	"hash/fnv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cdcflow/cdcflow/internal/services"
	"github.com/cdcflow/cdcflow/internal/testenv"
)

// TestIntegrationGroupSharesPartitions runs two consumers in one group over
// a topic of 8 partitions: once both hold 4 partitions the events are
// produced, and together they must apply each event exactly once (the
// history view counts one application per event, and no event is skipped
// as a duplicate or stale), into views equal key for key to what one
// consumer alone (another group, another prefix) makes of the same records.
func TestIntegrationGroupSharesPartitions(t *testing.T) {
	const parts, orders = 8, 400
	ctx := t.Context()
	srv := testenv.Redis(t)
	rdb := srv.Client(t)
	k := testenv.NewKafka(t, services.KafkaOptions{Partitions: parts})
	prod := k.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	adm := kadm.NewClient(prod)
	if _, err := adm.CreateTopic(ctx, parts, 1, nil, "shop.order"); err != nil {
		t.Fatal(err)
	}
	var recs []partRecord
	for i := range orders {
		id := fmt.Sprintf("o%d", i)
		h := fnv.New32a()
		h.Write([]byte(id))
		p := int32(h.Sum32() % parts)
		recs = append(recs, partRecord{partition: p, ev: orderEvent(id, "OrderRequested", uint64(2*i+1), map[string]any{
			"customer_id": fmt.Sprintf("c%d", i%17), "total": fmt.Sprintf("%d.%02d", 10+i%50, i%100),
			"ordered_at": fmt.Sprintf("2026-11-%02dT%02d:30:00Z", 10+i%10, i%24)})})
		if i%3 != 0 {
			recs = append(recs, partRecord{partition: p, ev: orderEvent(id, "OrderAccepted", uint64(2*i+2), nil)})
		}
	}
	defs := testDefinitions(t)
	shared, alone := srv.Prefix(t), srv.Prefix(t)

	start := func(ctx context.Context, prefix, group string) (*prometheus.Registry, <-chan error) {
		reg := newTestRegistry()
		v, err := New(Config{Prefix: prefix, Generation: 1, Metrics: NewMetrics(reg)}, defs, rdb)
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Preflight(ctx); err != nil {
			t.Fatal(err)
		}
		c, err := NewConsumer(ConsumerConfig{Brokers: k.Addrs(), Group: group, Topics: []string{"shop.order"},
			MaxPollRecords: 50, PointerInterval: 200 * time.Millisecond, Logger: testLogger(t)}, v)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- c.Run(ctx) }()
		return reg, done
	}
	cctx, cancel := context.WithCancel(ctx)
	var regs []*prometheus.Registry
	var dones []<-chan error
	for range 2 {
		reg, done := start(cctx, shared, "share")
		regs, dones = append(regs, reg), append(dones, done)
	}
	t.Cleanup(func() {
		cancel()
		for _, d := range dones {
			<-d
		}
	})
	testenv.Await(t, 60*time.Second, "two members of group share holding 4 partitions each", func() (bool, error) {
		gs, err := adm.DescribeGroups(ctx, "share")
		if err != nil {
			return false, err
		}
		g := gs["share"]
		if g.State != "Stable" || len(g.Members) != 2 {
			return false, nil
		}
		for _, m := range g.Members {
			a, ok := m.Assigned.AsConsumer()
			if !ok || len(a.Topics) != 1 || len(a.Topics[0].Partitions) != parts/2 {
				return false, nil
			}
		}
		return true, nil
	})
	produce(t, prod, "shop.order", recs)
	end := map[int32]int64{}
	for _, r := range recs {
		end[r.partition]++
	}
	ps := make([]int32, parts)
	for p := range ps {
		ps[p] = int32(p)
	}
	applied := func(prefix string) func() (bool, error) {
		return func() (bool, error) {
			got, err := StoredOffsets(ctx, rdb, prefix, 1, "shop.order", ps)
			if err != nil {
				return false, err
			}
			for p, n := range end {
				if got[p] != n {
					return false, nil
				}
			}
			return true, nil
		}
	}
	testenv.Await(t, 60*time.Second, "both consumers applied every partition to its end", applied(shared))

	// Exactly once: every event appended once to its order's history, by
	// one consumer or the other, and none found already applied.
	var total float64
	for i, reg := range regs {
		n := counterValue(t, reg, "cdcflow_views_events_applied_total", "view", "history")
		if n == 0 {
			t.Errorf("consumer %d applied no event: the group did not share the partitions", i)
		}
		if s := counterValue(t, reg, "cdcflow_views_events_skipped_total", "aggregate", "order"); s != 0 {
			t.Errorf("consumer %d skipped %v events as already applied; want 0", i, s)
		}
		total += n
	}
	if total != float64(len(recs)) {
		t.Errorf("events applied by the two consumers = %v; want %d, each once", total, len(recs))
	}

	_, done := start(cctx, alone, "alone")
	dones = append(dones, done)
	testenv.Await(t, 60*time.Second, "the lone consumer applied every partition to its end", applied(alone))
	strip := func(prefix string) map[string]string {
		out := map[string]string{}
		for k, v := range dump(t, ctx, rdb, prefix) {
			out[strings.TrimPrefix(k, prefix)] = v
		}
		return out
	}
	got, want := strip(shared), strip(alone)
	if len(want) < orders {
		t.Fatalf("the lone consumer's views have %d keys; want at least one per order (%d)", len(want), orders)
	}
	diffViews(t, got, want)
}
