package redisview

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cdcflow/cdcflow/internal/testenv"
	"github.com/cdcflow/cdcflow/pipeline"
)

// orderEvent is an order event at position (lsn, 0, 0).
func orderEvent(id, typ string, lsn uint64, data map[string]any) pipeline.Event {
	b, _ := json.Marshal(data)
	return pipeline.Event{
		ID: fmt.Sprintf("%s-%d", id, lsn), Source: "s", Type: typ, Version: 1, AggregateType: "order", AggregateID: id,
		Position: pipeline.MakePosition(0, uint32(lsn), 0), Time: time.Date(2026, 11, 23, 10, 0, int(lsn), 0, time.UTC), Data: b,
	}
}

// TestIntegrationDerivedViewsMove follows one order from pending to
// accepted: it leaves the pending index, its count and sum move from one
// status to the other, and revenue appears on its local day; stale and
// duplicate events change nothing.
func TestIntegrationDerivedViewsMove(t *testing.T) {
	ctx := t.Context()
	srv := testenv.Redis(t)
	rdb := srv.Client(t)
	defs := testDefinitions(t)
	v, err := New(Config{Prefix: srv.Prefix(t)}, defs, rdb)
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewReader(defs, rdb, v.cfg.Prefix, 1)
	if err != nil {
		t.Fatal(err)
	}
	s := r.At(1)
	stored, next := int64(-1), int64(0) // stored offset, next record's offset
	apply := func(evs ...pipeline.Event) {
		t.Helper()
		b := Batch{Topic: "shop.order", Partition: 0, From: stored}
		for _, ev := range evs {
			b.Records = append(b.Records, Record{Offset: next, Event: ev})
			next++
		}
		stored = next
		if err := v.Apply(ctx, b); err != nil {
			t.Fatalf("Apply: %v", err)
		}
	}
	state := func() string {
		t.Helper()
		pend, err := s.Index(ctx, "pending", "", 0)
		if err != nil {
			t.Fatal(err)
		}
		st, err := s.Aggregate(ctx, "per_status")
		if err != nil {
			t.Fatal(err)
		}
		day, err := s.Aggregate(ctx, "revenue_per_day")
		if err != nil {
			t.Fatal(err)
		}
		e, err := s.Entity(ctx, "order", "o1")
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("pending=%v status=%v day=%v entity=%s", pend, st, day, e["status"])
	}
	requested := orderEvent("o1", "OrderRequested", 1, map[string]any{"customer_id": "c1", "total": "10.50", "ordered_at": "2026-11-23T23:30:00Z"})
	apply(requested, orderEvent("o2", "OrderRequested", 2, map[string]any{"customer_id": "c2", "total": "1.25", "ordered_at": "2026-11-22T08:00:00Z"}))
	const both = "pending=[{o2 1.7953344e+12} {o1 1.7954766e+12}] status=map[requested:{2 map[total:11.75] map[]}] day=map[] entity=requested"
	if got := state(); got != both {
		t.Fatalf("after two requests:\n got %s\nwant %s", got, both)
	}
	apply(orderEvent("o1", "OrderAccepted", 5, nil))
	const moved = "pending=[{o2 1.7953344e+12}] status=map[accepted:{1 map[total:10.50] map[]} requested:{1 map[total:1.25] map[]}] day=map[2026-11-24:{1 map[revenue:10.50] map[]}] entity=accepted"
	if got := state(); got != moved {
		t.Fatalf("after accept:\n got %s\nwant %s", got, moved)
	}
	// A duplicate and a stale event (position 3 < 5) change nothing.
	apply(requested, orderEvent("o1", "OrderDeclined", 3, nil), orderEvent("o1", "OrderAccepted", 5, nil))
	if got := state(); got != moved {
		t.Fatalf("after duplicate and stale events:\n got %s\nwant %s", got, moved)
	}
	// A zombie batch from an old offset is fenced and changes nothing.
	err = v.Apply(ctx, Batch{Topic: "shop.order", Partition: 0, From: 1, Records: []Record{{Offset: 1, Event: orderEvent("o1", "OrderRevoked", 9, nil)}}})
	if !errors.Is(err, ErrFenced) {
		t.Fatalf("zombie Apply = %v; want ErrFenced", err)
	}
	if got := state(); got != moved {
		t.Fatalf("after zombie batch:\n got %s\nwant %s", got, moved)
	}
	// Deleting the order removes it from every derived view.
	apply(orderEvent("o1", "OrderDeleted", 10, nil))
	const deleted = "pending=[{o2 1.7953344e+12}] status=map[requested:{1 map[total:1.25] map[]}] day=map[] entity="
	if got := state(); got != deleted {
		t.Fatalf("after delete:\n got %s\nwant %s", got, deleted)
	}
}
