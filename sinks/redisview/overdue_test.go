package redisview

import (
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/cep"
	"github.com/cdcflow/cdcflow/pipeline"
)

const ordersDir = "../../deploy/examples/orders/"

// overdueViews parses the reference overdue views and the rules whose
// derived events they follow.
func overdueViews(t *testing.T) (*Definitions, *cep.Rules) {
	t.Helper()
	src, err := os.ReadFile(ordersDir + "overdue.views.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d, err := ParseDefinitions(src)
	if err != nil {
		t.Fatalf("ParseDefinitions(overdue.views.yaml): %v", err)
	}
	rsrc, err := os.ReadFile(ordersDir + "cep.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rs, err := cep.ParseRules("cep.yaml", rsrc)
	if err != nil {
		t.Fatal(err)
	}
	return d, rs
}

// TestCheckOverdueViews: the overdue views check against the mapping once
// it knows the derived types, and not without them.
func TestCheckOverdueViews(t *testing.T) {
	d, rs := overdueViews(t)
	m, err := pipeline.Load(os.DirFS(ordersDir), "mapping.yaml", pipeline.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Check(m); err == nil || !strings.Contains(err.Error(), `event type "OrderOverdue": the mapping`) {
		t.Errorf("Check without the derived types = %v; want OrderOverdue unknown", err)
	}
	ds, err := rs.DerivedSchemas(m)
	if err != nil {
		t.Fatal(err)
	}
	var derived []pipeline.EventType
	for _, s := range ds {
		derived = append(derived, pipeline.EventType{Type: s.Type, AggregateType: s.AggregateType, Version: s.Version})
	}
	if err := d.Check(m.WithDerived(derived)); err != nil {
		t.Errorf("Check with the derived types = %v; want nil", err)
	}
}

// TestOverdueOrdersView runs the reference rules over order events and folds
// the events they derive through the overdue views: an order overdue is in
// overdue_orders scored by its deadline (oldest first), a late declaration
// or revocation removes it, and an order declared in time never enters.
func TestOverdueOrdersView(t *testing.T) {
	d, rs := overdueViews(t)
	part := cep.PartitionID{Topic: "shop.order", Partition: 0}
	e, err := cep.New(rs, cep.Config{Source: "cdcflow://cep/shop", Partitions: []cep.PartitionID{part}})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)
	lsn := capture.LSN(0x100)
	var derived, mapped []pipeline.Event
	feed := func(ev pipeline.Event) {
		if ev.Control == pipeline.NotControl {
			mapped = append(mapped, ev)
		}
		t.Helper()
		if err := e.Feed(cep.Input{Partition: part, Offset: int64(lsn), Event: ev}, func(d pipeline.Event) { derived = append(derived, d) }); err != nil {
			t.Fatalf("Feed %s: %v", ev.Type, err)
		}
	}
	order := func(typ string, id int, at time.Duration) {
		lsn += 0x10
		pos := pipeline.MakePosition(lsn, 0, 0)
		data := `{"order_id":` + strconv.Itoa(id) + `,"from":"N","total":"12.30","currency":"EUR","at":"` + t0.Add(at).Format(time.RFC3339Nano) + `"}`
		feed(pipeline.Event{ID: "e" + strconv.Itoa(int(lsn)), Source: "s", Type: typ, Version: 1, AggregateType: "order",
			AggregateID: strconv.Itoa(id), Position: pos, LSN: lsn, Time: t0.Add(at), Data: []byte(data)})
	}
	progress := func(at time.Duration) {
		lsn += 0x10
		feed(pipeline.NewProgress("s", "order", lsn, t0.Add(at)))
	}
	order("OrderPromised", 1, 0)              // overdue at 24h, declared at 30h
	order("OrderPromised", 2, time.Hour)      // declared in time
	order("OrderPromised", 3, 2*time.Hour)    // overdue at 26h, stays
	order("OrderPromised", 4, 30*time.Minute) // overdue at 24h30m, revoked at 40h
	order("OrderDeclared", 2, 20*time.Hour)   // in time: no event
	progress(27 * time.Hour)                  // 1, 4, 3 overdue
	order("OrderDeclared", 1, 30*time.Hour)   // resolves 1
	order("OrderRevoked", 4, 40*time.Hour)    // resolves 4

	var types []string
	for _, ev := range derived {
		types = append(types, ev.Type+" "+ev.AggregateID)
	}
	want := []string{"OrderOverdue 1", "OrderOverdue 4", "OrderOverdue 3", "OrderOverdueResolved 1", "OrderOverdueResolved 4"}
	if !slices.Equal(types, want) {
		t.Fatalf("derived %v; want %v", types, want)
	}

	state := map[string]*foldResult{}
	// index returns overdue_orders as Redis orders it: by score, then member.
	index := func() []string {
		var ids []string
		for id, cur := range state {
			if cur.derived["overdue_orders"].in {
				ids = append(ids, id)
			}
		}
		slices.SortFunc(ids, func(a, b string) int {
			sa, sb := state[a].derived["overdue_orders"].score, state[b].derived["overdue_orders"].score
			if sa != sb {
				if sa < sb {
					return -1
				}
				return 1
			}
			return strings.Compare(a, b)
		})
		return ids
	}
	steps := [][]string{{"1"}, {"1", "4"}, {"1", "4", "3"}, {"4", "3"}, {"3"}}
	for i, ev := range derived {
		cur := state[ev.AggregateID]
		if cur == nil {
			cur = &foldResult{final: map[string]map[string]string{}, history: map[string][]string{}, applied: map[string]int{}}
			state[ev.AggregateID] = cur
		}
		applied, err := d.fold(cur, ev, 0)
		if err != nil || !applied {
			t.Fatalf("fold %s %s: applied %v, %v; want applied", ev.Type, ev.AggregateID, applied, err)
		}
		if got := index(); !slices.Equal(got, steps[i]) {
			t.Errorf("after %s %s: overdue_orders = %v; want %v (oldest deadline first)", ev.Type, ev.AggregateID, got, steps[i])
		}
	}
	due := t0.Add(2*time.Hour + 24*time.Hour)
	got := state["3"]
	if s := got.derived["overdue_orders"].score; s != float64(due.UnixMilli()) {
		t.Errorf("order 3 score = %v; want the deadline %v in Unix ms", s, due.UnixMilli())
	}
	wantEntity := map[string]string{"order_id": "3", "total": "12.30", "currency": "EUR",
		"promised_at": t0.Add(2 * time.Hour).Format(time.RFC3339Nano), "due": due.Format(time.RFC3339Nano)}
	if e := got.final["overdue"]; !maps.Equal(e, wantEntity) {
		t.Errorf("overdue entity 3 = %v; want %v", e, wantEntity)
	}
	if e := state["1"].final["overdue"]; e != nil {
		t.Errorf("overdue entity 1 after its resolution = %v; want deleted", e)
	}

	// The views keep one stale-event guard per aggregate type and id,
	// whatever the topic: a materializer that reads the order topic and the
	// derived events' topic may apply order 1's late OrderDeclared before or
	// after its OrderOverdue; either way the resolution, derived at the
	// declaration's position, is applied after it and the entry is gone.
	byType := func(evs []pipeline.Event, typ, id string) pipeline.Event {
		for _, ev := range evs {
			if ev.Type == typ && ev.AggregateID == id {
				return ev
			}
		}
		t.Fatalf("no %s %s", typ, id)
		return pipeline.Event{}
	}
	promised, declared := byType(mapped, "OrderPromised", "1"), byType(mapped, "OrderDeclared", "1")
	overdue, resolved := byType(derived, "OrderOverdue", "1"), byType(derived, "OrderOverdueResolved", "1")
	for _, order := range [][]pipeline.Event{
		{promised, overdue, declared, resolved},
		{promised, declared, overdue, resolved},
	} {
		cur := &foldResult{final: map[string]map[string]string{}, history: map[string][]string{}, applied: map[string]int{}}
		var seq []string
		for _, ev := range order {
			seq = append(seq, ev.Type)
			if _, err := d.fold(cur, ev, 0); err != nil {
				t.Fatalf("%v: fold %s: %v", seq, ev.Type, err)
			}
		}
		if cur.final["overdue"] != nil || cur.derived["overdue_orders"].in {
			t.Errorf("applied %v: overdue = %v, in overdue_orders %v; want gone", seq, cur.final["overdue"], cur.derived["overdue_orders"].in)
		}
		if resolved.Position <= declared.Position {
			t.Errorf("OrderOverdueResolved at %s, not after the OrderDeclared it was derived from (%s)", resolved.Position, declared.Position)
		}
	}
}
