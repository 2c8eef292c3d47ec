package pipeline

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cdcflow/cdcflow/capture"
)

// limitMapping publishes a note's body; its ratio fails for n = 0.
const limitMapping = `version: 1
tables:
  - table: public.notes
    aggregate:
      type: note
      id: string(row.id)
    events:
      - type: NoteAdded
        version: 1
        when: op == "insert"
        data:
          body: row.body
          ratio: 100 / row.n
`

// TestMapperLimitEventBytes checks that a lowered cap turns larger events
// into dead letters by reference, and that a dead letter that would exceed
// it leaves its row out.
func TestMapperLimitEventBytes(t *testing.T) {
	m, err := Parse("limit.yaml", []byte(limitMapping), nil, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mp, err := NewMapper(m, MapperOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mp.LimitEventBytes(m.MaxEventBytes() + 1) // above the mapping's: no effect
	mp.LimitEventBytes(0)                     // no effect
	mp.LimitEventBytes(300)
	mp.Connected(&capture.Connected{Source: capture.Source{SystemID: "1", Timeline: 1, Database: "db"}})
	rel := &capture.Relation{Schema: "public", Table: "notes", Columns: []capture.Column{
		{Name: "id", TypeName: "int4", Key: true}, {Name: "body", TypeName: "text"}, {Name: "n", TypeName: "int4"},
	}}
	v := func(d any) capture.Value { return capture.Value{Kind: capture.KindValue, Data: d} }
	insert := func(id int64, body string, n int64) []Event {
		t.Helper()
		var got []Event
		c := &capture.Change{Op: capture.OpInsert, FinalLSN: 0x10, Index: uint32(id), Relation: rel, New: []capture.Value{v(id), v(body), v(n)}}
		if err := mp.Change(c, collect(&got)); err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 {
			t.Fatalf("insert %d: %d events; want 1", id, len(got))
		}
		return got
	}
	deadLetter := func(e Event) DeadLetter {
		t.Helper()
		if !e.DeadLetter {
			t.Fatalf("event %s is not a dead letter", e.Type)
		}
		var dl DeadLetter
		if err := json.Unmarshal(e.Data, &dl); err != nil {
			t.Fatal(err)
		}
		if len(e.Data) > 1000 {
			t.Errorf("dead letter of %d bytes; want it small (by reference)", len(e.Data))
		}
		return dl
	}

	if got := insert(1, "short", 1); got[0].DeadLetter {
		t.Fatalf("a small event became a dead letter: %s", got[0].Data)
	}
	big := strings.Repeat("x", 400)
	dl := deadLetter(insert(2, big, 1)[0])
	if !strings.Contains(dl.Reason, "exceeds max_event_bytes 300") || dl.Row != nil || len(dl.Omitted) == 0 || string(dl.Key) != `{"id":2}` {
		t.Errorf("oversized dead letter = %+v; want by reference, key 2, reason naming the cap 300", dl)
	}
	dl = deadLetter(insert(3, big, 0)[0])
	if !strings.Contains(dl.Reason, "division by zero") || !strings.Contains(dl.Reason, "row left out") || dl.Row != nil || string(dl.Key) != `{"id":3}` {
		t.Errorf("unmappable dead letter of a big row = %+v; want the reason, the key and no row", dl)
	}
	dl = deadLetter(insert(4, "small", 0)[0])
	if dl.Row == nil || strings.Contains(dl.Reason, "left out") {
		t.Errorf("unmappable dead letter of a small row = %+v; want its row", dl)
	}
}
