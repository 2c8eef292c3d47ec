package cep

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/cdcflow/cdcflow/pipeline"
)

// TestMatchRoundTrip checks the compact match against what it replaces: it
// gives back every part of the event as given, the usual forms (a UUID id,
// a time in Unix nanoseconds, the key as aggregate id) and the rare ones
// (another id, a time outside Unix nanoseconds, another aggregate id, a
// value) alike, and reads back what it writes.
func TestMatchRoundTrip(t *testing.T) {
	e := mustEngine(t, mustRules(t, absenceRules), 1)
	pos := pipeline.MakePosition(0x1234_5678_9ABC, 7, 3)
	tests := []struct {
		name  string
		ev    pipeline.Event
		key   string
		value string
	}{
		{"usual", pipeline.Event{ID: pipeline.EventID("src", pos), Type: "A", Version: 2, AggregateType: "order", AggregateID: "o1",
			Position: pos, Time: t0.Add(time.Nanosecond), Data: []byte(`{"a":1}`)}, "o1", ""},
		{"rare", pipeline.Event{ID: "not-a-uuid", Type: "A", Version: 1, AggregateType: "order", AggregateID: "o1",
			Position: pos, Time: time.Date(2300, 1, 2, 3, 4, 5, 6, time.UTC)}, "customer-9", "12.50"},
		{"upper-case uuid and an old time", pipeline.Event{ID: "0190A1B2-C3D4-8E5F-8A6B-7C8D9E0F1A2B", Type: "B", AggregateType: "c",
			Position: pos, Time: time.Date(1500, 1, 1, 0, 0, 0, 0, time.FixedZone("x", 3600))}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := e.matchOf(tt.ev, tt.key)
			if tt.value != "" {
				m.setValue(tt.value)
			}
			want := matchJSON{Type: tt.ev.Type, Version: tt.ev.Version, AggType: tt.ev.AggregateType, AggID: tt.ev.AggregateID,
				ID: tt.ev.ID, Pos: tt.ev.Position, Time: tt.ev.Time.UTC(), Data: tt.ev.Data, Value: tt.value}
			got := m.toJSON(tt.key)
			a, _ := json.Marshal(got)
			b, _ := json.Marshal(want)
			if string(a) != string(b) {
				t.Fatalf("match of %+v:\n%s\nwant\n%s", tt.ev, a, b)
			}
			back := e.matchFromJSON(got, tt.key)
			if c, _ := json.Marshal(back.toJSON(tt.key)); string(c) != string(a) {
				t.Errorf("read back:\n%s\nwant\n%s", c, a)
			}
			cv, err := m.cel(tt.key)
			if err != nil {
				t.Fatal(err)
			}
			if cv["id"] != tt.ev.ID || cv["aggregate_id"] != tt.ev.AggregateID || !cv["time"].(time.Time).Equal(tt.ev.Time) || cv["position"] != string(pos) {
				t.Errorf("cel = %v", cv)
			}
		})
	}
	// Matches share the head of their kind unless they have rare parts.
	a := e.matchOf(tests[0].ev, "o1")
	b := e.matchOf(tests[0].ev, "o1")
	if a.h != b.h || a.h.x != nil {
		t.Error("two usual matches of one kind do not share one head")
	}
	// A sequence's later steps do not leak into the matches it reports.
	o := open{first: a}.with(b)
	if ms := o.matches(); o.len() != 2 || len(ms) != 2 || ms[0].h.x != nil && ms[0].h.x.later != nil {
		t.Errorf("open with two steps: len %d, matches %d", o.len(), len(o.matches()))
	}
	if a.h.x != nil {
		t.Error("with changed the open it was called on")
	}
}
