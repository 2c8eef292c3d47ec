package redisview

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/pipeline"
)

// TestShippedViewsAnswerTheirQuestions folds the reference events of
// deploy/examples/orders/mapping.yaml through the shipped views
// (deploy/examples/orders/views.yaml) and checks that each view answers the
// question its comment asks: pending holds the orders promised and not yet
// declared (shipped), every time in the entity is RFC 3339 UTC, a time
// scores as exact Unix milliseconds, and revenue counts on the Berlin day
// the order was placed.
func TestShippedViewsAnswerTheirQuestions(t *testing.T) {
	src, err := os.ReadFile("../../deploy/examples/orders/views.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d, err := ParseDefinitions(src)
	if err != nil {
		t.Fatalf("ParseDefinitions(deploy/examples/orders/views.yaml): %v", err)
	}

	// Placed on 2026-11-23 at 23:30:00.4757 in Berlin (22:30 UTC): late
	// in the evening, so the UTC and the local date differ, and with a
	// fraction of a millisecond that the score drops.
	orderedAt := time.Date(2026, 11, 23, 22, 30, 0, 475_700_000, time.UTC)
	const local = "2026-11-23T23:30:00.4757"
	const utc = "2026-11-23T22:30:00.4757Z"
	wantScore := float64(orderedAt.UnixMilli()) // 1795473000475
	transition := func(at string) map[string]any {
		return map[string]any{"order_id": 7, "from": "N", "total": "12.30", "currency": "EUR", "at": at}
	}

	type want struct {
		status, updatedAt string
		pending           bool
		revenueDay        string // "" = not in revenue_per_day
	}
	steps := []struct {
		typ  string
		data map[string]any
		want want
	}{
		{"OrderRequested", map[string]any{"order_id": 7, "customer_id": 3, "total": "12.30", "currency": "EUR", "ordered_at": local},
			want{status: "requested", updatedAt: utc}},
		{"OrderPromised", transition("2026-11-24T08:00:00.123456Z"),
			want{status: "promised", updatedAt: "2026-11-24T08:00:00.123456Z", pending: true}},
		{"OrderAmended", map[string]any{"order_id": 7, "total": "12.30", "currency": "EUR", "at": "2026-11-24T09:00:00Z"},
			want{status: "promised", updatedAt: "2026-11-24T09:00:00Z", pending: true}},
		{"OrderDeclared", transition("2026-11-25T10:00:00Z"),
			want{status: "declared", updatedAt: "2026-11-25T10:00:00Z"}},
		{"OrderAccepted", transition("2026-11-26T10:00:00.5Z"),
			want{status: "accepted", updatedAt: "2026-11-26T10:00:00.5Z", revenueDay: "2026-11-23"}},
		{"OrderRejected", transition("2026-11-27T10:00:00Z"),
			want{status: "rejected", updatedAt: "2026-11-27T10:00:00Z"}},
	}
	cur := &foldResult{final: map[string]map[string]string{}, history: map[string][]string{}, applied: map[string]int{}}
	for i, st := range steps {
		applied, err := d.fold(cur, referenceEvent(st.typ, i+1, st.data), 0)
		if err != nil || !applied {
			t.Fatalf("step %d %s: fold = %v, %v; want applied", i, st.typ, applied, err)
		}
		checkReference(t, fmt.Sprintf("after %s", st.typ), cur, st.want.status, st.want.updatedAt, utc, st.want.pending, st.want.revenueDay, wantScore)
	}

	// A promised order revoked by the customer leaves the work list; so
	// does one the snapshot finds shipped. A snapshot state event reads its
	// updated_at from a timestamptz, already UTC.
	for _, tt := range []struct {
		name    string
		events  []pipeline.Event
		pending bool
	}{
		{"promised then revoked", []pipeline.Event{
			referenceEvent("OrderRequested", 1, steps[0].data),
			referenceEvent("OrderPromised", 2, transition("2026-11-24T08:00:00Z")),
			referenceEvent("OrderRevoked", 3, transition("2026-11-24T09:00:00Z")),
		}, false},
		{"snapshot: promised", []pipeline.Event{referenceEvent("OrderStateObserved", 1, map[string]any{
			"order_id": 7, "customer_id": 3, "status": "promised", "total": "12.30", "currency": "EUR",
			"ordered_at": local, "updated_at": "2026-11-24T08:00:00Z"})}, true},
		{"snapshot: declared", []pipeline.Event{referenceEvent("OrderStateObserved", 1, map[string]any{
			"order_id": 7, "customer_id": 3, "status": "declared", "total": "12.30", "currency": "EUR",
			"ordered_at": local, "updated_at": "2026-11-24T08:00:00Z"})}, false},
	} {
		cur := &foldResult{final: map[string]map[string]string{}, history: map[string][]string{}, applied: map[string]int{}}
		for _, ev := range tt.events {
			if _, err := d.fold(cur, ev, 0); err != nil {
				t.Fatalf("%s: fold %s: %v", tt.name, ev.Type, err)
			}
		}
		if got := cur.derived["pending"].in; got != tt.pending {
			t.Errorf("%s: in pending = %v; want %v (state %v)", tt.name, got, tt.pending, cur.final["order"])
		}
		if got := cur.final["order"]["ordered_at"]; got != utc {
			t.Errorf("%s: ordered_at = %q; want %q", tt.name, got, utc)
		}
	}
}

// checkReference checks the entity and derived views of order 7 after a
// step of TestShippedViewsAnswerTheirQuestions.
func checkReference(t *testing.T, when string, cur *foldResult, status, updatedAt, orderedAt string, pending bool, revenueDay string, score float64) {
	t.Helper()
	e := cur.final["order"]
	want := map[string]string{"order_id": "7", "customer_id": "3", "status": status, "total": "12.30", "currency": "EUR",
		"ordered_at": orderedAt, "updated_at": updatedAt}
	if !maps.Equal(e, want) {
		t.Errorf("%s: order = %v; want %v", when, e, want)
	}
	for name, v := range e {
		if name == "ordered_at" || name == "updated_at" {
			if _, err := time.Parse(time.RFC3339Nano, v); err != nil || v[len(v)-1] != 'Z' {
				t.Errorf("%s: %s = %q; want RFC 3339 in UTC (…Z)", when, name, v)
			}
		}
	}
	p := cur.derived["pending"]
	if p.in != pending {
		t.Errorf("%s (status %s): in pending = %v; want %v", when, status, p.in, pending)
	}
	byCustomer := cur.derived["orders_by_customer"]
	if !byCustomer.in || byCustomer.key != "3" {
		t.Errorf("%s: orders_by_customer = %+v; want in, key 3", when, byCustomer)
	}
	for name, m := range map[string]member{"pending": p, "orders_by_customer": byCustomer} {
		if !m.in {
			continue
		}
		// Exact Unix milliseconds: an integer, written without a fraction
		// or an exponent when Redis or a reader prints it.
		if m.score != score || strconv.FormatFloat(m.score, 'f', -1, 64) != strconv.FormatInt(int64(score), 10) {
			t.Errorf("%s: %s score = %v; want %v (Unix milliseconds)", when, name, strconv.FormatFloat(m.score, 'f', -1, 64), int64(score))
		}
	}
	if st := cur.derived["per_status"]; !st.in || st.key != status {
		t.Errorf("%s: per_status = %+v; want group %s", when, st, status)
	}
	rev := cur.derived["revenue_per_day"]
	switch {
	case revenueDay == "" && rev.in:
		t.Errorf("%s (status %s): revenue_per_day = %+v; want out", when, status, rev)
	case revenueDay != "" && (!rev.in || rev.key != revenueDay || len(rev.sums) != 1 || rev.sums[0] != 1230):
		t.Errorf("%s: revenue_per_day = %+v; want day %s, 1230 cents", when, rev, revenueDay)
	}
}

// referenceEvent is an event of order 7 as the reference mapping writes it.
func referenceEvent(typ string, n int, data map[string]any) pipeline.Event {
	b, err := json.Marshal(data)
	if err != nil {
		panic(err)
	}
	return pipeline.Event{
		ID: fmt.Sprintf("e%d", n), Source: "s", Type: typ, Version: 1, AggregateType: "order", AggregateID: "7",
		Position: pipeline.MakePosition(capture.LSN(n), 0, 0), Time: time.Date(2026, 11, 24, 0, 0, n, 0, time.UTC), Data: b,
	}
}
