package cep

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"
)

// TestSnapshotGolden pins the bytes Snapshot writes for the state of every
// rule kind (absence with resolution, sequence, count and sum, sliding and
// tumbling) at several cuts of a generated run: the encoding is what a
// restart or another version reads back, so a change of the in-memory
// layout must not change it. -update rewrites the golden file.
func TestSnapshotGolden(t *testing.T) {
	ruleSets := []struct{ name, src string }{
		{"all", allRules},
		{"sequence", sequenceRules},
		{"count", windowRules("count", "    at_least: 3")},
		{"sum tumbling", windowRules("sum", "    at_least: \"4\"\n    value: decimal(data.total)\n    tumbling: true")},
		{"sum sliding", windowRules("sum", "    at_least: \"6.5\"\n    value: decimal(data.total)")},
	}
	inputs := snapshotInputs(600, 2)
	var got bytes.Buffer
	for _, rs := range ruleSets {
		e := mustEngine(t, mustRules(t, rs.src), 2)
		fed := 0
		for _, cut := range []int{150, 400, 600} {
			run(t, e, inputs[fed:cut]...)
			fed = cut
			snap, err := e.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&got, "== %s after %d\n%s\n", rs.name, cut, snap)
			e2 := mustEngine(t, mustRules(t, rs.src), 2)
			if err := e2.Restore(snap); err != nil {
				t.Fatalf("%s: Restore: %v", rs.name, err)
			}
			if again, _ := e2.Snapshot(); !bytes.Equal(again, snap) {
				t.Fatalf("%s after %d: Snapshot after Restore differs", rs.name, cut)
			}
		}
	}
	const file = "testdata/snapshots.golden"
	if *update {
		if err := os.WriteFile(file, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("Snapshot bytes differ from %s (go test ./cep -run TestSnapshotGolden -update rewrites it after an intended format change)", file)
	}
}

// snapshotInputs generates n order events over 30 orders and 6 customers
// on parts partitions, in merge order, with progress records.
func snapshotInputs(n, parts int) []Input {
	rng := rand.New(rand.NewPCG(17, 4))
	types := []string{"OrderRequested", "OrderPromised", "OrderDeclined", "OrderDeclared", "OrderRevoked"}
	var out []Input
	at := time.Duration(0)
	lsn := uint64(16)
	for i := range n {
		at += time.Duration(rng.IntN(120)) * time.Second
		lsn += 16
		order := rng.IntN(30)
		data := fmt.Sprintf(`{"n":%d,"customer":%d,"total":"%d.%d"}`, i, rng.IntN(6), rng.IntN(4), rng.IntN(10))
		out = append(out, in(int32(order%parts), lsn, types[rng.IntN(len(types))], "o"+itoa(order), at, data))
		if i%25 == 24 {
			lsn += 16
			for p := range parts {
				out = append(out, progress(int32(p), lsn, at))
			}
		}
	}
	return out
}
