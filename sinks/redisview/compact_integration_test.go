package redisview

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cdcflow/cdcflow/internal/services"
	"github.com/cdcflow/cdcflow/internal/testenv"
	"github.com/cdcflow/cdcflow/pipeline"
)

// TestIntegrationCompactTombstones: a truncate leaves tombstones with their
// deletion time; compaction removes them only when they are older than the
// horizon measured on the newest applied commit time, never while a snapshot
// is in progress, never an aggregate brought back since; a stale event inside
// the horizon is still refused by its tombstone, and live aggregates and
// views are untouched.
func TestIntegrationCompactTombstones(t *testing.T) {
	ctx := t.Context()
	srv := testenv.Redis(t)
	rdb := srv.Client(t)
	defs := testDefinitions(t)
	v, err := New(Config{Prefix: srv.Prefix(t)}, defs, rdb)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Preflight(ctx); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var off int64
	stored := int64(-1)
	lsn := uint64(1)
	apply := func(evs ...pipeline.Event) {
		t.Helper()
		b := Batch{Topic: "shop.order", Partition: 0, From: stored}
		for _, ev := range evs {
			b.Records = append(b.Records, Record{Offset: off, Event: ev})
			off++
		}
		if err := v.Apply(ctx, b); err != nil {
			t.Fatal(err)
		}
		stored = off
	}
	at := func(ev pipeline.Event, tm time.Time) pipeline.Event {
		ev.Time = tm
		return ev
	}
	request := func(id string, tm time.Time) pipeline.Event {
		ev := orderEvent(id, "OrderRequested", lsn, map[string]any{"customer_id": "c1", "total": "1.00", "ordered_at": "2026-11-01T10:00:00Z"})
		ev.Position = pipeline.MakePosition(0, uint32(lsn), 0)
		lsn++
		return at(ev, tm)
	}
	control := func(kind pipeline.ControlKind, epoch uint64, tm time.Time) pipeline.Event {
		ev := pipeline.Event{ID: fmt.Sprintf("c%d", lsn), Type: "Control", AggregateType: "order", Epoch: epoch, Control: kind, Time: tm,
			Position: pipeline.MakePosition(0, uint32(lsn), 0)}
		lsn++
		return ev
	}
	posOf := func(id string) string {
		t.Helper()
		s, err := rdb.HGet(ctx, v.keys.pos(0, "order"), id).Result()
		if err != nil {
			return ""
		}
		return s
	}
	compact := func(horizon time.Duration) int {
		t.Helper()
		total := 0
		cursor := uint64(0)
		for {
			next, n, err := v.CompactTombstones(ctx, 0, "order", cursor, 2, v.NewestApplied(0).Add(-horizon))
			if err != nil {
				t.Fatal(err)
			}
			total += n
			if cursor = next; cursor == 0 {
				return total
			}
		}
	}

	// Five orders; the stale copy of o0's request is kept for later.
	stale := request("o0", t0)
	apply(stale)
	for i := 1; i < 5; i++ {
		apply(request(fmt.Sprintf("o%d", i), t0))
	}
	apply(control(pipeline.ControlTruncate, 0, t0.Add(time.Hour)))
	if p := posOf("o0"); len(strings.Fields(p)) != 3 || !strings.HasSuffix(p, fmt.Sprint(t0.Add(time.Hour).Unix())) {
		t.Fatalf("tombstone of o0 = %q; want \"<position> <epoch> <deleted>\"", p)
	}
	// o1 comes back after the truncate: its position is no tombstone.
	apply(request("o1", t0.Add(2*time.Hour)))
	if p := posOf("o1"); len(strings.Fields(p)) != 2 {
		t.Fatalf("position of the re-created o1 = %q; want no deletion time", p)
	}

	// Inside the horizon: nothing is removed, and the stale event is refused.
	if n := compact(24 * time.Hour); n != 0 {
		t.Fatalf("compaction inside the horizon removed %d", n)
	}
	apply(stale)
	if e, _ := snapshotOf(t, defs, v).Entity(ctx, "order", "o0"); e != nil {
		t.Fatalf("a stale event resurrected o0 through its tombstone: %v", e)
	}

	// A day later (in commit time) but a snapshot in progress: kept.
	apply(control(pipeline.ControlSnapshotBegin, 7, t0.Add(30*time.Hour)), request("o9", t0.Add(30*time.Hour)))
	if n := compact(24 * time.Hour); n != 0 {
		t.Fatalf("compaction during a snapshot removed %d", n)
	}
	// o9 was seen in epoch 7 and o1 was not: the end drops o1, as of now.
	apply(control(pipeline.ControlSnapshotEnd, 7, t0.Add(31*time.Hour)))
	if n := compact(24 * time.Hour); n != 4 { // o0, o2, o3, o4; o1 was dropped only now
		t.Fatalf("compaction after the horizon removed %d; want 4", n)
	}
	for _, id := range []string{"o0", "o2", "o3", "o4"} {
		if p := posOf(id); p != "" {
			t.Errorf("tombstone of %s still there: %q", id, p)
		}
	}
	if p := posOf("o1"); len(strings.Fields(p)) != 3 {
		t.Errorf("o1's fresh tombstone = %q; want it kept", p)
	}
	if p := posOf("o9"); len(strings.Fields(p)) != 2 {
		t.Errorf("live o9's position = %q; want it kept", p)
	}
	if e, err := snapshotOf(t, defs, v).Entity(ctx, "order", "o9"); err != nil || e["status"] != "requested" {
		t.Errorf("o9 = %v, %v; want it untouched", e, err)
	}
	agg, err := snapshotOf(t, defs, v).Aggregate(ctx, "per_status")
	if err != nil || agg["requested"].Count != 1 {
		t.Errorf("per_status = %v, %v; want one requested order (o9)", agg, err)
	}
}

// snapshotOf returns a snapshot of v's generation over one partition.
func snapshotOf(t *testing.T, defs *Definitions, v *Views) *Snapshot {
	t.Helper()
	r, err := NewReader(defs, v.rdb, v.cfg.Prefix, 1)
	if err != nil {
		t.Fatal(err)
	}
	return r.At(v.Generation())
}

// TestIntegrationConsumerCompacts runs the live consumer with a one-hour
// horizon: the tombstones a truncate left are removed between polls once an
// event two hours newer has been applied, and the live aggregate stays.
func TestIntegrationConsumerCompacts(t *testing.T) {
	ctx := t.Context()
	srv := testenv.Redis(t)
	rdb := srv.Client(t)
	k := testenv.NewKafka(t, services.KafkaOptions{Partitions: 1})
	prod := k.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var recs []partRecord
	for i := range 5 {
		ev := orderEvent(fmt.Sprintf("o%d", i), "OrderRequested", uint64(i+1), map[string]any{"customer_id": "c1", "total": "1.00", "ordered_at": "2026-11-01T10:00:00Z"})
		ev.Time = t0
		recs = append(recs, partRecord{ev: ev})
	}
	recs = append(recs, partRecord{ev: pipeline.Event{ID: "trunc", Source: "s", Type: "Truncate", AggregateType: "order",
		Control: pipeline.ControlTruncate, Position: pipeline.MakePosition(0, 10, 0), Time: t0.Add(time.Hour)}})
	late := orderEvent("o9", "OrderRequested", 11, map[string]any{"customer_id": "c1", "total": "1.00", "ordered_at": "2026-11-01T10:00:00Z"})
	late.Time = t0.Add(3 * time.Hour)
	recs = append(recs, partRecord{ev: late})
	produce(t, prod, "shop.order", recs)

	reg := newTestRegistry()
	v, err := New(Config{Prefix: srv.Prefix(t), Metrics: NewMetrics(reg)}, testDefinitions(t), rdb)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Preflight(ctx); err != nil {
		t.Fatal(err)
	}
	c, err := NewConsumer(ConsumerConfig{Brokers: k.Addrs(), Group: "views-compact", Topics: []string{"shop.order"},
		FollowPointer: true, PointerInterval: 100 * time.Millisecond, TombstoneHorizon: time.Hour,
		CompactInterval: 50 * time.Millisecond, Logger: testLogger(t)}, v)
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.Run(rctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("Run: %v", err)
		}
	}()
	testenv.Await(t, 30*time.Second, "only o9's position left (the tombstones compacted)", func() (bool, error) {
		all, err := rdb.HGetAll(ctx, v.keys.pos(0, "order")).Result()
		return len(all) == 1 && all["o9"] != "", err
	})
	if e, err := snapshotOf(t, testDefinitions(t), v).Entity(ctx, "order", "o9"); err != nil || e["status"] != "requested" {
		t.Errorf("o9 = %v, %v; want it applied", e, err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var compacted float64
	for _, mf := range mfs {
		if mf.GetName() == "cdcflow_views_tombstones_compacted_total" {
			compacted = mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	if compacted != 5 {
		t.Errorf("cdcflow_views_tombstones_compacted_total = %v; want 5", compacted)
	}
}
