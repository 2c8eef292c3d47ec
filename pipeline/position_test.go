package pipeline

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/cdcflow/cdcflow/capture"
)

func TestPosition(t *testing.T) {
	tests := []struct {
		lsn     capture.LSN
		index   uint32
		ordinal uint16
		want    Position
	}{
		{0, 0, 0, "0000000000000000-00000000-0000"},
		{0x16B374D848, 3, 1, "00000016B374D848-00000003-0001"},
		{math.MaxUint64, math.MaxUint32, math.MaxUint16, "FFFFFFFFFFFFFFFF-FFFFFFFF-FFFF"},
	}
	for _, tt := range tests {
		got := MakePosition(tt.lsn, tt.index, tt.ordinal)
		if got != tt.want {
			t.Errorf("MakePosition(%d, %d, %d) = %s; want %s", tt.lsn, tt.index, tt.ordinal, got, tt.want)
		}
		if s := SnapshotPosition(tt.lsn, tt.index, tt.ordinal); s != tt.want {
			t.Errorf("SnapshotPosition(%d, %d, %d) = %s; want %s", tt.lsn, tt.index, tt.ordinal, s, tt.want)
		}
		lsn, index, ordinal, err := ParsePosition(string(got))
		if err != nil || lsn != tt.lsn || index != tt.index || ordinal != tt.ordinal {
			t.Errorf("ParsePosition(%s) = %d, %d, %d, %v; want %d, %d, %d", got, lsn, index, ordinal, err, tt.lsn, tt.index, tt.ordinal)
		}
	}
}

func TestParsePositionErrors(t *testing.T) {
	for _, s := range []string{
		"",
		"00000016b374d848-00000003-0001",  // lower case would sort wrongly
		"00000016B374D848-00000003-001",   // short
		"00000016B374D848-00000003-00010", // long
		"00000016B374D848_00000003-0001",
		"00000016B374D848-0000003-00001",
		"+0000016B374D848-00000003-0001",
		"00000016B374D848-00000003-000G",
		"16/B374D848-00000003-0001",
	} {
		if lsn, i, o, err := ParsePosition(s); err == nil {
			t.Errorf("ParsePosition(%q) = %d, %d, %d; want an error", s, lsn, i, o)
		}
	}
}

// TestPositionOrder checks that string order is the order of (LSN, index,
// ordinal), and that snapshot positions sit between the stream positions
// before and after the consistent point.
func TestPositionOrder(t *testing.T) {
	type triple struct {
		lsn     capture.LSN
		index   uint32
		ordinal uint16
	}
	in := []triple{
		{0x100, 0, 0}, {0xFF, 0xFFFFFFFF, 0xFFFF}, {0x100, 1, 0}, {0x100, 0, 1}, {0x1_0000_0000, 0, 0},
		{0xFFFFFFFF, 9, 9}, {0x10, 0x10, 0x10}, {0x1, 0xA, 0}, {0x1, 0x9, 0xFFFF},
	}
	pos := make([]Position, len(in))
	for i, x := range in {
		pos[i] = MakePosition(x.lsn, x.index, x.ordinal)
	}
	sort.Slice(pos, func(i, j int) bool { return pos[i].Less(pos[j]) })
	sort.Slice(in, func(i, j int) bool {
		a, b := in[i], in[j]
		if a.lsn != b.lsn {
			return a.lsn < b.lsn
		}
		if a.index != b.index {
			return a.index < b.index
		}
		return a.ordinal < b.ordinal
	})
	for i, x := range in {
		if want := MakePosition(x.lsn, x.index, x.ordinal); pos[i] != want {
			t.Errorf("sorted position %d = %s; want %s", i, pos[i], want)
		}
	}
	const consistentPoint = capture.LSN(0x5000)
	before := MakePosition(consistentPoint-2, math.MaxUint32, math.MaxUint16)
	snap := SnapshotPosition(consistentPoint-1, 12345, 0)
	after := MakePosition(consistentPoint, 0, 0)
	if !before.Less(snap) || !snap.Less(after) {
		t.Errorf("want %s < %s < %s", before, snap, after)
	}
	if Position("").Less("") || !Position("").Less(after) {
		t.Error("the zero Position must sort first")
	}
}

// TestMakePositionMatchesSprintf checks the hand-written formatting against
// the format it documents, for random values (seed printed).
func TestMakePositionMatchesSprintf(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 3))
	for range 10000 {
		lsn, index, ordinal := rng.Uint64()>>rng.IntN(64), rng.Uint32()>>rng.IntN(32), uint16(rng.Uint32()>>rng.IntN(32))
		want := fmt.Sprintf("%016X-%08X-%04X", lsn, index, ordinal)
		if got := MakePosition(capture.LSN(lsn), index, ordinal); string(got) != want {
			t.Fatalf("MakePosition(%#x, %#x, %#x) = %s; want %s", lsn, index, ordinal, got, want)
		}
	}
}
