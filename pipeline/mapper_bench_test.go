package pipeline

import (
	"encoding/json"
	"syscall"
	"testing"
	"time"

	"github.com/cdcflow/cdcflow/capture"
)

// processCPU returns the user and system CPU time of the process so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkMap maps the reference workload through the reference mapping: per
// transaction an order inserted with three lines (one gathered OrderRequested)
// and a status change of another order (one OrderPromised), five changes in
// all. It reports changes per second and the process's CPU time per transaction
// (cpu-ns/op), with and without schema validation.
func BenchmarkMap(b *testing.B) {
	s := readStream(b, "testdata/golden/orders/stream.json")
	m := loadMapping(b, referenceMapping, LoadOptions{Timezone: "Europe/Berlin"})
	orders, lines := s.relations["orders"], s.relations["order_lines"]
	v := func(d any) capture.Value { return capture.Value{Kind: capture.KindValue, Data: d} }
	commit := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	order := func(id int64, status string) []capture.Value {
		return []capture.Value{v(id), v(int64(42)), v(status), v(capture.Numeric("123.45")), v("EUR"),
			v(json.RawMessage(`{"city": "Berlin", "street": "Unter den Linden 1", "zip": "10117"}`)), {Kind: capture.KindNull}, v("web"),
			v(capture.LocalTime{Time: commit}), v(commit)}
	}
	line := func(id, no int64) []capture.Value {
		return []capture.Value{v(id), v(no), v(int64(10)), v(int64(3)), v(capture.Numeric("12.50")), v(capture.Numeric("5.00"))}
	}
	changes := []*capture.Change{
		{Op: capture.OpInsert, Relation: orders, New: order(1001, "N")},
		{Op: capture.OpInsert, Relation: lines, New: line(1001, 1)},
		{Op: capture.OpInsert, Relation: lines, New: line(1001, 2)},
		{Op: capture.OpInsert, Relation: lines, New: line(1001, 3)},
		{Op: capture.OpUpdate, Relation: orders, Old: order(1000, "N"), New: order(1000, "C")},
	}
	for _, validate := range []bool{false, true} {
		name := "validate=off"
		if validate {
			name = "validate=on"
		}
		b.Run(name, func(b *testing.B) {
			mp, err := NewMapper(m, MapperOptions{Validate: validate})
			if err != nil {
				b.Fatal(err)
			}
			mp.Connected(&capture.Connected{Source: capture.Source{SystemID: "7301234567890123456", Timeline: 1, Database: "shop"}})
			var events, bytes int
			emit := func(e Event) {
				if e.DeadLetter {
					b.Fatalf("dead letter: %s", e.Data)
				}
				events++
				bytes += len(e.Data)
			}
			b.ReportAllocs()
			cpu0 := processCPU(b)
			lsn := capture.LSN(0x1000000)
			for b.Loop() {
				lsn += 0x100
				mp.Begin(&capture.Begin{FinalLSN: lsn, XID: 1, CommitTime: commit})
				for i, c := range changes {
					c.FinalLSN, c.Index, c.XID, c.CommitTime = lsn, uint32(i), 1, commit
					if err := mp.Change(c, emit); err != nil {
						b.Fatal(err)
					}
				}
				if err := mp.Commit(&capture.Commit{FinalLSN: lsn, EndLSN: lsn + 0x30, XID: 1, CommitTime: commit}, emit); err != nil {
					b.Fatal(err)
				}
			}
			if events != 2*b.N {
				b.Fatalf("%d events from %d transactions; want 2 each", events, b.N)
			}
			b.ReportMetric(float64(len(changes)*b.N)/b.Elapsed().Seconds(), "changes/s")
			b.ReportMetric(float64(bytes)/float64(events), "B/event")
			// CPU time of the process (GC included) per transaction: steadier
			// than ns/op on a machine shared with other jobs.
			b.ReportMetric(float64((processCPU(b)-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}
