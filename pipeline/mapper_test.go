package pipeline

import (
	"testing"

	"github.com/cdcflow/cdcflow/capture"
)

// referenceMapper returns a Mapper of the reference mapping and the relations
// of the reference stream.
func referenceMapper(t *testing.T) (*Mapper, map[string]*capture.Relation) {
	t.Helper()
	s := readStream(t, "testdata/golden/orders/stream.json")
	m := loadMapping(t, s.mappingPath, LoadOptions{Timezone: s.timezone})
	mp, err := NewMapper(m, MapperOptions{Validate: true})
	if err != nil {
		t.Fatal(err)
	}
	mp.Connected(&capture.Connected{Source: capture.Source{SystemID: "1", Timeline: 1, Database: "shop"}})
	return mp, s.relations
}

func collect(out *[]Event) func(Event) { return func(e Event) { *out = append(*out, e) } }

func TestMapperTruncateOfGatheredTable(t *testing.T) {
	mp, rels := referenceMapper(t)
	var got []Event
	c := &capture.Change{Op: capture.OpTruncate, FinalLSN: 0x10, Relation: rels["order_lines"], Truncated: []*capture.Relation{rels["order_lines"], rels["customers"]}}
	if err := mp.Change(c, collect(&got)); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].AggregateType != "customer" || got[1].AggregateType != "order" ||
		got[0].Control != ControlTruncate || got[0].Position == got[1].Position {
		t.Fatalf("truncate of order_lines and customers = %+v; want a truncate control for customer and for order", got)
	}
}

func TestMapperIgnores(t *testing.T) {
	mp, _ := referenceMapper(t)
	audit := &capture.Relation{Schema: "public", Table: "audit_log", Columns: []capture.Column{{Name: "audit_id", TypeName: "int8", Key: true}}}
	var got []Event
	mp.Marker(&capture.Marker{Kind: capture.MarkerHeartbeat, LSN: 0x20}, collect(&got))
	mp.Begin(&capture.Begin{FinalLSN: 0x30})
	if err := mp.Change(&capture.Change{Op: capture.OpInsert, FinalLSN: 0x30, Relation: audit, New: []capture.Value{{Kind: capture.KindValue, Data: int64(1)}}}, collect(&got)); err != nil {
		t.Fatal(err)
	}
	if err := mp.Commit(&capture.Commit{FinalLSN: 0x30, EndLSN: 0x40}, collect(&got)); err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Fatalf("heartbeat and an unmapped table produced %d events; want none", len(got))
	}
}

// TestMapperDropsUncommittedGathering checks that a transaction the stream
// restarts in the middle of leaves nothing behind.
func TestMapperDropsUncommittedGathering(t *testing.T) {
	mp, rels := referenceMapper(t)
	v := func(d any) capture.Value { return capture.Value{Kind: capture.KindValue, Data: d} }
	order := []capture.Value{v(int64(7)), v(int64(1)), v("N"), v(capture.Numeric("1.00")), v("EUR"), v([]byte(nil)), {Kind: capture.KindNull}, v("x"), {Kind: capture.KindNull}, {Kind: capture.KindNull}}
	var got []Event
	mp.Begin(&capture.Begin{FinalLSN: 0x50})
	if err := mp.Change(&capture.Change{Op: capture.OpInsert, FinalLSN: 0x50, Relation: rels["orders"], New: order}, collect(&got)); err != nil {
		t.Fatal(err)
	}
	mp.Begin(&capture.Begin{FinalLSN: 0x50}) // the session restarted; the transaction comes again
	if err := mp.Commit(&capture.Commit{FinalLSN: 0x50, EndLSN: 0x60}, collect(&got)); err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Fatalf("a restarted transaction left %d events; want none", len(got))
	}
}

func TestNewMapperErrors(t *testing.T) {
	if _, err := NewMapper(nil, MapperOptions{}); err == nil {
		t.Error("NewMapper(nil) = nil error")
	}
	m, err := Parse("m.yaml", []byte(goodMapping), nil, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewMapper(m, MapperOptions{Validate: true}); err == nil {
		t.Error("NewMapper(Validate without schemas) = nil error")
	}
}
