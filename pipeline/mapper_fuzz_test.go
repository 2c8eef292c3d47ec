package pipeline

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/cdcflow/cdcflow/capture"
)

// FuzzMap maps transactions of arbitrary values through the reference mapping
// with validation on: the Mapper must never panic or fail (every bad value
// becomes a dead letter), every event must carry valid JSON, and one
// aggregate's events must come out in position order.
func FuzzMap(f *testing.F) {
	f.Add(uint8(0), int64(1), "N", "12.50", "notes", `{"city":"x"}`, int64(2), "0.00", false)
	f.Add(uint8(1), int64(-1), "C", "NaN", "", `{}`, int64(0), "15", true)
	f.Add(uint8(2), int64(9223372036854775807), "X", "1e400", "\x00\xff", `[1,`, int64(-5), "-Infinity", false)
	f.Add(uint8(3), int64(0), "", "abc", "é\n\"", `null`, int64(1<<40), "100", true)
	s := readStream(f, "testdata/golden/orders/stream.json")
	m := loadMapping(f, referenceMapping, LoadOptions{Timezone: "Europe/Berlin"})
	orders, lines := s.relations["orders"], s.relations["order_lines"]
	f.Fuzz(func(t *testing.T, op uint8, id int64, status, total, notes, addr string, qty int64, discount string, toast bool) {
		mp, err := NewMapper(m, MapperOptions{Validate: true})
		if err != nil {
			t.Fatal(err)
		}
		mp.Connected(&capture.Connected{Source: capture.Source{SystemID: "1", Timeline: 1, Database: "f"}})
		row := func(st string) []capture.Value {
			v := func(d any) capture.Value { return capture.Value{Kind: capture.KindValue, Data: d} }
			n := v(notes)
			if toast {
				n = capture.Value{Kind: capture.KindUnchangedTOAST}
			}
			return []capture.Value{v(id), v(qty), v(st), v(capture.Numeric(total)), v("EUR"),
				v(json.RawMessage(addr)), n, v("app"), v(capture.LocalTime{Time: time.Unix(id%1e10, 0).UTC()}), v(time.Unix(qty%1e10, 0).UTC())}
		}
		line := []capture.Value{{Kind: capture.KindValue, Data: id}, {Kind: capture.KindValue, Data: qty},
			{Kind: capture.KindValue, Data: int64(10)}, {Kind: capture.KindValue, Data: qty},
			{Kind: capture.KindValue, Data: capture.Numeric(total)}, {Kind: capture.KindValue, Data: capture.Numeric(discount)}}
		commit := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
		var changes []*capture.Change
		switch op % 4 {
		case 0:
			changes = append(changes, &capture.Change{Op: capture.OpInsert, Relation: orders, New: row(status)},
				&capture.Change{Op: capture.OpInsert, Relation: lines, New: line},
				&capture.Change{Op: capture.OpInsert, Relation: lines, New: line})
		case 1:
			changes = append(changes, &capture.Change{Op: capture.OpUpdate, Relation: orders, Old: row("N"), New: row(status)},
				&capture.Change{Op: capture.OpUpdate, Relation: orders, Old: row(status), New: row("C")})
		case 2:
			changes = append(changes, &capture.Change{Op: capture.OpDelete, Relation: orders, Old: row(status)},
				&capture.Change{Op: capture.OpUpdate, Relation: lines, New: line})
		case 3:
			changes = append(changes, &capture.Change{Op: capture.OpRead, Relation: orders, New: row(status), Epoch: 1},
				&capture.Change{Op: capture.OpRead, Relation: lines, New: line, Epoch: 1})
		}
		last := map[string]Position{}
		emit := func(e Event) {
			if !json.Valid(e.Data) {
				t.Fatalf("%s at %s: invalid JSON data %q", e.Type, e.Position, e.Data)
			}
			if e.DeadLetter {
				return
			}
			k := e.AggregateType + "/" + e.AggregateID
			if p, ok := last[k]; ok && e.Position < p {
				t.Fatalf("aggregate %s: event at %s after %s", k, e.Position, p)
			}
			last[k] = e.Position
		}
		mp.Begin(&capture.Begin{FinalLSN: 0x100, XID: 1, CommitTime: commit})
		for i, c := range changes {
			c.FinalLSN, c.XID, c.CommitTime, c.Index = 0x100, 1, commit, uint32(i)
			if err := mp.Change(c, emit); err != nil {
				var rb *RuleBrokenError
				if !errors.As(err, &rb) {
					t.Fatalf("Change = %v", err)
				}
			}
		}
		if err := mp.Commit(&capture.Commit{FinalLSN: 0x100, EndLSN: 0x130, XID: 1, CommitTime: commit}, emit); err != nil {
			t.Fatalf("Commit = %v", err)
		}
	})
}
