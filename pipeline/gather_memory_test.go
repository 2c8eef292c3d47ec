package pipeline

import (
	"runtime"
	"testing"

	"github.com/cdcflow/cdcflow/capture"
)

// gatherMemoryMapping holds every order (gathering its lines) until commit.
const gatherMemoryMapping = `version: 1
limits:
  max_gather_bytes: 1GiB
tables:
  - table: public.orders
    aggregate: {type: order, id: string(row.id)}
    events:
      - type: Placed
        version: 1
        when: op == "insert"
        data: {id: row.id, note: row.note}
        gather:
          - field: lines
            table: public.lines
            key: string(row.order_id)
            data: {no: row.no}
`

// TestGatherCountsWhatItHolds holds many gathering events of a
// transaction and compares what max_gather_bytes counts for them with what
// they really keep on the heap: the count must not fall short of it (a
// limit that counted only the events' data let a 1M-row transaction hold
// several times its value), nor be far above it (the limit would cut
// gathering short).
func TestGatherCountsWhatItHolds(t *testing.T) {
	m, err := Parse("gather.yaml", []byte(gatherMemoryMapping), nil, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mp, err := NewMapper(m, MapperOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mp.Connected(&capture.Connected{Source: capture.Source{SystemID: "1", Timeline: 1, Database: "db"}})
	orders := &capture.Relation{Schema: "public", Table: "orders", Columns: []capture.Column{
		{Name: "id", TypeName: "int8", Key: true}, {Name: "note", TypeName: "text"}}}
	v := func(d any) capture.Value { return capture.Value{Kind: capture.KindValue, Data: d} }
	const n = 20_000
	note := "a note of a few dozen bytes, as an order row has"
	mp.Begin(&capture.Begin{FinalLSN: 0x10})
	emit := func(Event) { t.Fatal("an event left before the commit") }
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range int64(n) {
		c := &capture.Change{Op: capture.OpInsert, FinalLSN: 0x10, Index: uint32(i), Relation: orders, New: []capture.Value{v(i), v(note)}}
		if err := mp.Change(c, emit); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if len(mp.pending) != n {
		t.Fatalf("%d events held; want %d", len(mp.pending), n)
	}
	held := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	counted := int64(mp.pendingBytes)
	t.Logf("%d events held: %d bytes on the heap (%d per event), %d counted (%d per event)", n, held, held/n, counted, counted/n)
	if counted < held*9/10 || counted > held*2 {
		t.Errorf("max_gather_bytes counts %d bytes for %d held events that keep %d on the heap; want between 90%% and 200%% of it", counted, n, held)
	}
}
