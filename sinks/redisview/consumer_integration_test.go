package redisview

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cdcflow/cdcflow/internal/services"
	"github.com/cdcflow/cdcflow/internal/testenv"
	"github.com/cdcflow/cdcflow/pipeline"
)

// produce writes recs to topic, each to its own partition, encoded as the
// pipeline encodes events (alternating structured and binary mode).
func produce(t *testing.T, cl *kgo.Client, topic string, recs []partRecord) {
	t.Helper()
	var krs []*kgo.Record
	for i, r := range recs {
		mode := pipeline.Structured
		if i%2 == 1 {
			mode = pipeline.Binary
		}
		enc, err := pipeline.EncodeEvent(r.ev, topic, mode)
		if err != nil {
			t.Fatalf("EncodeEvent(%s): %v", r.ev.ID, err)
		}
		kr := &kgo.Record{Topic: topic, Partition: r.partition, Key: enc.Key, Value: enc.Value}
		for _, h := range enc.Headers {
			kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
		}
		krs = append(krs, kr)
	}
	if err := cl.ProduceSync(t.Context(), krs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

func runConsumer(t *testing.T, ctx context.Context, cfg ConsumerConfig, v *Views) error {
	t.Helper()
	c, err := NewConsumer(cfg, v)
	if err != nil {
		t.Fatal(err)
	}
	return c.Run(ctx)
}

func TestIntegrationConsumerEqualsModel(t *testing.T) {
	ctx := t.Context()
	srv := testenv.Redis(t)
	rdb := srv.Client(t)
	k := testenv.NewKafka(t, services.KafkaOptions{Partitions: testPartitions})
	prod := k.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	seed := testenv.Seed(t)
	recs := orderStream(seed, 400, false)
	// Offsets in Kafka are per partition in produce order, as the generator
	// numbered them.
	half := len(recs) / 2
	produce(t, prod, "shop.order", recs[:half])

	defs := testDefinitions(t)
	reg := newTestRegistry()
	v, err := New(Config{Prefix: srv.Prefix(t), Generation: 1, Metrics: NewMetrics(reg)}, defs, rdb)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Preflight(ctx); err != nil {
		t.Fatal(err)
	}
	cfg := ConsumerConfig{Brokers: k.Addrs(), Group: "views-a", Topics: []string{"shop.order"}, StopAtEnd: true, PointerInterval: 200 * time.Millisecond, Logger: testLogger(t)}
	if err := runConsumer(t, ctx, cfg, v); err != nil {
		t.Fatalf("first run: %v", err)
	}
	// The second half is consumed by another group: it must resume from the
	// offsets stored in Redis, not from the start (which would re-apply the
	// first half; harmless for positions but visible in the progress total).
	produce(t, prod, "shop.order", recs[half:])
	cfg.Group = "views-b"
	var last Progress
	cfg.Progress = func(p Progress) { last = p }
	if err := runConsumer(t, ctx, cfg, v); err != nil {
		t.Fatalf("second run: %v", err)
	}
	if last.Total != int64(len(recs)-half) || last.Done != last.Total {
		t.Errorf("second run progress = %+v; want %d of %d records (resumed from the stored offsets)", last, len(recs)-half, len(recs)-half)
	}
	m := newModel()
	for _, r := range recs {
		m.apply(r)
	}
	r, err := NewReader(defs, rdb, v.cfg.Prefix, testPartitions)
	if err != nil {
		t.Fatal(err)
	}
	diffViews(t, actual(t, ctx, r.At(1), allIDs(recs)), m.expected())
	for _, view := range []string{"order", "pending", "per_status", "history"} {
		if got := counterValue(t, reg, "cdcflow_views_events_applied_total", "view", view); got == 0 {
			t.Errorf("cdcflow_views_events_applied_total{view=%s} = 0; want > 0", view)
		}
	}
}

func TestIntegrationConsumerPoison(t *testing.T) {
	ctx := t.Context()
	srv := testenv.Redis(t)
	rdb := srv.Client(t)
	k := testenv.NewKafka(t, services.KafkaOptions{Partitions: 1})
	prod := k.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	g := newGenerator(1)
	for range 20 {
		g.streamStep()
	}
	var recs []partRecord
	for _, r := range g.records {
		r.partition = 0
		recs = append(recs, r)
	}
	produce(t, prod, "shop.order", recs[:10])
	// A record that is not a CloudEvent, and an event whose data does not
	// project (total is not a decimal).
	bad := recs[0].ev
	bad.ID, bad.AggregateID, bad.Position = "bad-total", "ox", pipeline.MakePosition(1, 0, 0)
	bad.Data = []byte(`{"order_id":"ox","customer_id":"c1","total":"lots","ordered_at":"2026-11-23T10:00:00Z"}`)
	if err := prod.ProduceSync(ctx, &kgo.Record{Topic: "shop.order", Key: []byte("garbage"), Value: []byte("not json")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	produce(t, prod, "shop.order", []partRecord{{ev: bad}})
	produce(t, prod, "shop.order", recs[10:])

	defs := testDefinitions(t)
	reg := newTestRegistry()
	prefix := srv.Prefix(t)
	// Replay mode (no dead-letter topic): the poison record stops the run
	// with an error naming it, and the offset stays before it.
	v, err := New(Config{Prefix: prefix, Generation: 1, Metrics: NewMetrics(reg)}, defs, rdb)
	if err != nil {
		t.Fatal(err)
	}
	cfg := ConsumerConfig{Brokers: k.Addrs(), Group: "poison-replay", Topics: []string{"shop.order"}, StopAtEnd: true, PointerInterval: 200 * time.Millisecond, Logger: testLogger(t)}
	err = runConsumer(t, ctx, cfg, v)
	var perr *ProjectError
	if !errors.As(err, &perr) || perr.Offset != 10 || !strings.Contains(err.Error(), "not a CloudEvent") {
		t.Fatalf("replay run = %v; want a *ProjectError at offset 10 saying not a CloudEvent", err)
	}
	offs, err := v.Offsets(ctx, "shop.order", []int32{0})
	if err != nil {
		t.Fatal(err)
	}
	if offs[0] > 10 {
		t.Errorf("stored offset after the poison stop = %d; want at most 10", offs[0])
	}

	// Live mode: both go to the dead-letter topic and the view goes on.
	cfg.Group, cfg.DeadLetterTopic = "poison-live", "shop.deadletter"
	if _, err := kadm.NewClient(prod).CreateTopic(ctx, 1, 1, nil, "shop.deadletter"); err != nil {
		t.Fatal(err)
	}
	dlReg := newTestRegistry()
	v.cfg.Metrics = NewMetrics(dlReg)
	if err := runConsumer(t, ctx, cfg, v); err != nil {
		t.Fatalf("live run: %v", err)
	}
	if got := counterValue(t, dlReg, "cdcflow_views_dead_letters_total", "topic", "shop.order"); got != 2 {
		t.Errorf("dead letters = %v; want 2", got)
	}
	cons := k.Client(t, kgo.ConsumeTopics("shop.deadletter"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var reasons []string
	testenv.Await(t, 10*time.Second, "two dead letters", func() (bool, error) {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		cons.PollFetches(pctx).EachRecord(func(r *kgo.Record) {
			for _, h := range r.Headers {
				if h.Key == HeaderReason {
					reasons = append(reasons, string(h.Value))
				}
			}
		})
		return len(reasons) >= 2, nil
	})
	if !strings.Contains(reasons[0], "not a CloudEvent") || !strings.Contains(reasons[1], `"lots"`) && !strings.Contains(reasons[1], "total") {
		t.Errorf("dead-letter reasons = %q; want the decode error and the projection error", reasons)
	}
	m := newModel()
	for _, r := range recs {
		m.apply(r)
	}
	r, err := NewReader(defs, rdb, prefix, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := m.expected()
	// The model partitions by id; with one partition only the layout differs.
	diffViews(t, actual(t, ctx, r.At(1), allIDs(recs)), want)
}

// TestIntegrationConsumersFenceEachOther runs two consumers in different
// groups over the same partitions and generation, as a zombie and its
// successor would: each keeps fencing the other, resumes from the stored
// offset, and the views still equal the model.
func TestIntegrationConsumersFenceEachOther(t *testing.T) {
	ctx := t.Context()
	srv := testenv.Redis(t)
	rdb := srv.Client(t)
	k := testenv.NewKafka(t, services.KafkaOptions{Partitions: testPartitions})
	prod := k.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	seed := testenv.Seed(t)
	recs := orderStream(seed, 400, true)
	produce(t, prod, "shop.order", recs)
	defs := testDefinitions(t)
	prefix := srv.Prefix(t)
	errs := make(chan error, 2)
	reg := newTestRegistry()
	metrics := NewMetrics(reg)
	for _, group := range []string{"zombie", "successor"} {
		v, err := New(Config{Prefix: prefix, Generation: 1, Metrics: metrics}, defs, rdb)
		if err != nil {
			t.Fatal(err)
		}
		c, err := NewConsumer(ConsumerConfig{Brokers: k.Addrs(), Group: group, Topics: []string{"shop.order"},
			StopAtEnd: true, MaxPollRecords: 7, RetryBackoff: time.Millisecond, PointerInterval: 200 * time.Millisecond, Logger: testLogger(t)}, v)
		if err != nil {
			t.Fatal(err)
		}
		go func() { errs <- c.Run(ctx) }()
	}
	for range 2 {
		select {
		case err := <-errs:
			if err != nil {
				t.Fatalf("consumer: %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Fatal("consumers did not reach the end")
		}
	}
	m := newModel()
	for _, r := range recs {
		m.apply(r)
	}
	r, err := NewReader(defs, rdb, prefix, testPartitions)
	if err != nil {
		t.Fatal(err)
	}
	diffViews(t, actual(t, ctx, r.At(1), allIDs(recs)), m.expected())
	t.Logf("%v batches fenced", counterValue(t, reg, "cdcflow_views_fenced_total", "topic", "shop.order"))
}
