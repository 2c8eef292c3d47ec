package redisview

import (
	"cmp"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cdcflow/cdcflow/pipeline"
)

// This file generates a seeded stream of order events (with duplicates, stale
// re-sends, deletes, a snapshot that finds some orders gone, and optionally a
// truncate) and computes, independently of the engine, what the views of
// testdata/orders.views.yaml must hold afterwards.

const testPartitions = 3

type partRecord struct {
	partition int32
	offset    int64
	ev        pipeline.Event
}

// testPosition is pipeline.MakePosition(lsn, index, 0), written out because
// the sinks never import capture (for capture.LSN).
func testPosition(lsn uint64, index uint32) pipeline.Position {
	return pipeline.Position(fmt.Sprintf("%016X-%08X-%04X", lsn, index, 0))
}

func partitionOf(id string) int32 {
	h := fnv.New32a()
	h.Write([]byte(id))
	return int32(h.Sum32() % testPartitions)
}

type genOrder struct {
	id, customer, total, status string
	orderedAt                   time.Time
}

var transitions = []struct{ typ, status string }{
	{"OrderPromised", "promised"}, {"OrderDeclined", "declined"}, {"OrderDeclared", "declared"},
	{"OrderAccepted", "accepted"}, {"OrderRejected", "rejected"}, {"OrderRevoked", "revoked"},
}

// generator builds the stream; records are appended per partition with
// consecutive offsets.
type generator struct {
	rng     *rand.Rand
	lsn     uint64 // the sinks never import capture: positions are built from plain numbers
	next    [testPartitions]int64
	records []partRecord
	live    map[string]*genOrder // the source's rows
	sent    map[string][]pipeline.Event
	n       int
}

func newGenerator(seed int64) *generator {
	return &generator{rng: rand.New(rand.NewPCG(uint64(seed), 7)), lsn: 0x1000, live: map[string]*genOrder{}, sent: map[string][]pipeline.Event{}}
}

func (g *generator) emit(p int32, ev pipeline.Event) {
	g.records = append(g.records, partRecord{partition: p, offset: g.next[p], ev: ev})
	g.next[p]++
}

func (g *generator) event(typ, id string, data any, epoch uint64, pos pipeline.Position) pipeline.Event {
	b, _ := json.Marshal(data)
	ev := pipeline.Event{
		ID: fmt.Sprintf("ev-%s-%s", id, pos), Source: "postgres://1/db?tl=1", Type: typ, Version: 1,
		AggregateType: "order", AggregateID: id, Position: pos, Epoch: epoch,
		Time: time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC).Add(time.Duration(g.lsn) * time.Second), Data: b,
	}
	g.sent[id] = append(g.sent[id], ev)
	return ev
}

func (g *generator) streamStep() {
	g.lsn += uint64(1 + g.rng.IntN(3))
	pos := testPosition(g.lsn, uint32(g.rng.IntN(4)))
	ids := slices.Sorted(maps.Keys(g.live))
	switch r := g.rng.IntN(100); {
	case r < 30 || len(ids) == 0:
		g.n++
		o := &genOrder{
			id: "o" + strconv.Itoa(g.n), customer: "c" + strconv.Itoa(g.rng.IntN(5)),
			total:     fmt.Sprintf("%d.%02d", g.rng.IntN(500), g.rng.IntN(100)),
			status:    "requested",
			orderedAt: time.Date(2026, 11, 20, 20, 0, 0, 0, time.UTC).Add(time.Duration(g.rng.IntN(72*60)) * time.Minute),
		}
		g.live[o.id] = o
		g.emit(partitionOf(o.id), g.event("OrderRequested", o.id, map[string]any{
			"order_id": o.id, "customer_id": o.customer, "total": o.total, "ordered_at": o.orderedAt.Format(time.RFC3339),
		}, 0, pos))
	case r < 80:
		o := g.live[ids[g.rng.IntN(len(ids))]]
		t := transitions[g.rng.IntN(len(transitions))]
		o.status = t.status
		g.emit(partitionOf(o.id), g.event(t.typ, o.id, map[string]any{"order_id": o.id, "total": o.total}, 0, pos))
	case r < 88:
		o := g.live[ids[g.rng.IntN(len(ids))]]
		delete(g.live, o.id)
		g.emit(partitionOf(o.id), g.event("OrderDeleted", o.id, map[string]any{"order_id": o.id}, 0, pos))
	default:
		// A re-sent earlier event (duplicate or stale): a new record, same event.
		all := slices.Sorted(maps.Keys(g.sent))
		id := all[g.rng.IntN(len(all))]
		evs := g.sent[id]
		g.emit(partitionOf(id), evs[g.rng.IntN(len(evs))])
	}
}

// snapshot emits a snapshot of epoch: begin markers, a state event per live
// order (after first losing some rows without events, as a lost slot would),
// end markers.
func (g *generator) snapshot(epoch uint64) {
	for _, id := range slices.Sorted(maps.Keys(g.live)) {
		if g.rng.IntN(6) == 0 {
			delete(g.live, id)
		}
	}
	g.lsn += 10
	for p := range int32(testPartitions) {
		g.emit(p, pipeline.Event{ID: fmt.Sprintf("begin-%d-%d", epoch, p), Source: "s", Type: "SnapshotBegin", AggregateType: "order", Epoch: epoch, Control: pipeline.ControlSnapshotBegin})
	}
	for i, id := range slices.Sorted(maps.Keys(g.live)) {
		o := g.live[id]
		pos := testPosition(g.lsn, uint32(i)) // a snapshot row: consistent point - 1, row counter
		ev := g.event("OrderStateObserved", id, map[string]any{
			"order_id": id, "customer_id": o.customer, "total": o.total, "status": o.status, "ordered_at": o.orderedAt.Format(time.RFC3339),
		}, epoch, pos)
		g.emit(partitionOf(id), ev)
		if g.rng.IntN(5) == 0 {
			g.emit(partitionOf(id), ev) // re-sent state event: equal position, applied again
		}
	}
	for p := range int32(testPartitions) {
		g.emit(p, pipeline.Event{ID: fmt.Sprintf("end-%d-%d", epoch, p), Source: "s", Type: "SnapshotEnd", AggregateType: "order", Epoch: epoch, Control: pipeline.ControlSnapshotEnd})
	}
	g.lsn++
}

func (g *generator) truncate() {
	g.lsn++
	for p := range int32(testPartitions) {
		g.emit(p, pipeline.Event{ID: fmt.Sprintf("trunc-%d-%d", g.lsn, p), Source: "s", Type: "Truncate", AggregateType: "order", Control: pipeline.ControlTruncate})
	}
	clear(g.live)
}

// orderStream is the standard workload.
func orderStream(seed int64, steps int, withTruncate bool) []partRecord {
	g := newGenerator(seed)
	for range steps {
		g.streamStep()
	}
	g.snapshot(1)
	for range steps / 2 {
		g.streamStep()
	}
	// An interrupted snapshot (no end) superseded by a complete one.
	for p := range int32(testPartitions) {
		g.emit(p, pipeline.Event{ID: fmt.Sprintf("begin-2-%d", p), Source: "s", Type: "SnapshotBegin", AggregateType: "order", Epoch: 2, Control: pipeline.ControlSnapshotBegin})
	}
	g.snapshot(3)
	if withTruncate {
		g.truncate()
	}
	for range steps / 2 {
		g.streamStep()
	}
	return g.records
}

// modelOrder is the expected entity state.
type modelOrder struct {
	fields  map[string]string
	pos     pipeline.Position
	seen    uint64
	history []string // event ids
}

// model is the expected content of every view.
type model struct {
	orders map[string]*modelOrder // includes position-only (deleted) aggregates with fields == nil
	snap   [testPartitions]uint64
}

func newModel() *model { return &model{orders: map[string]*modelOrder{}} }

func (m *model) apply(r partRecord) {
	ev := r.ev
	switch ev.Control {
	case pipeline.ControlSnapshotBegin:
		m.snap[r.partition] = ev.Epoch
		return
	case pipeline.ControlSnapshotEnd:
		if m.snap[r.partition] != ev.Epoch {
			return
		}
		m.snap[r.partition] = 0
		for id, o := range m.orders {
			if partitionOf(id) == r.partition && o.seen < ev.Epoch {
				o.fields, o.history = nil, nil // the position stays: a tombstone
			}
		}
		return
	case pipeline.ControlTruncate:
		for id, o := range m.orders {
			if partitionOf(id) == r.partition {
				o.fields, o.history = nil, nil
			}
		}
		return
	}
	o := m.orders[ev.AggregateID]
	if o == nil {
		o = &modelOrder{}
		m.orders[ev.AggregateID] = o
	}
	if o.pos != "" && (ev.Position < o.pos || ev.Position == o.pos && ev.Epoch == 0) {
		return
	}
	var d map[string]any
	json.Unmarshal(ev.Data, &d)
	switch ev.Type {
	case "OrderRequested", "OrderStateObserved":
		f := map[string]string{}
		if o.fields != nil {
			f = maps.Clone(o.fields)
		}
		f["customer_id"] = d["customer_id"].(string)
		f["total"] = d["total"].(string)
		f["status"] = "requested"
		if s, ok := d["status"].(string); ok {
			f["status"] = s
		}
		f["ordered_at"] = d["ordered_at"].(string)
		f["updated_at"] = ev.Time.UTC().Format(time.RFC3339Nano)
		o.fields = f
	case "OrderDeleted":
		o.fields = nil
	default:
		for _, t := range transitions {
			if t.typ == ev.Type {
				f := map[string]string{}
				if o.fields != nil {
					f = maps.Clone(o.fields)
				}
				f["status"] = t.status
				f["updated_at"] = ev.Time.UTC().Format(time.RFC3339Nano)
				o.fields = f
			}
		}
	}
	o.history = append(o.history, ev.ID)
	o.pos = ev.Position
	o.seen = max(o.seen, ev.Epoch, m.snap[r.partition])
}

func cents(s string) int64 {
	w, f, _ := strings.Cut(s, ".")
	a, _ := strconv.ParseInt(w, 10, 64)
	b, _ := strconv.ParseInt((f + "00")[:2], 10, 64)
	return a*100 + b
}

func fmtCents(c int64) string { return fmt.Sprintf("%d.%02d", c/100, c%100) }

func orderedAt(o *modelOrder) float64 {
	t, _ := time.Parse(time.RFC3339, o.fields["ordered_at"])
	return float64(t.UnixMilli())
}

// expected renders the model's views in the shape the test compares.
func (m *model) expected() map[string]string {
	out := map[string]string{}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	var pending []IndexEntry
	byCustomer := map[string][]IndexEntry{}
	type agg struct{ n, sum int64 }
	perStatus := map[string]agg{}
	perDay := map[string]agg{}
	for id, o := range m.orders {
		if len(o.history) > 0 {
			out["history/"+id] = strings.Join(o.history, ",")
		}
		if o.fields == nil {
			continue
		}
		out["order/"+id] = fmt.Sprint(o.fields)
		e := IndexEntry{ID: id, Score: orderedAt(o)}
		if o.fields["status"] == "requested" {
			pending = append(pending, e)
		}
		byCustomer[o.fields["customer_id"]] = append(byCustomer[o.fields["customer_id"]], e)
		a := perStatus[o.fields["status"]]
		perStatus[o.fields["status"]] = agg{a.n + 1, a.sum + cents(o.fields["total"])}
		if o.fields["status"] == "accepted" {
			t, _ := time.Parse(time.RFC3339, o.fields["ordered_at"])
			day := t.In(berlin).Format(time.DateOnly)
			a := perDay[day]
			perDay[day] = agg{a.n + 1, a.sum + cents(o.fields["total"])}
		}
	}
	sortIdx := func(es []IndexEntry) string {
		slices.SortFunc(es, func(a, b IndexEntry) int { return cmp.Or(cmp.Compare(a.Score, b.Score), strings.Compare(a.ID, b.ID)) })
		return fmt.Sprint(es)
	}
	out["pending"] = sortIdx(pending)
	for c, es := range byCustomer {
		out["by_customer/"+c] = sortIdx(es)
	}
	for s, a := range perStatus {
		out["per_status/"+s] = fmt.Sprintf("%d %s", a.n, fmtCents(a.sum))
	}
	for d, a := range perDay {
		out["revenue_per_day/"+d] = fmt.Sprintf("%d %s", a.n, fmtCents(a.sum))
	}
	return out
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
