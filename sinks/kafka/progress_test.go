package kafka

import (
	"slices"
	"testing"
	"time"
)

// TestActivityDue: a partition is due a progress record after one interval
// with nothing written, or a quiet time after an event; a busy one is not.
func TestActivityDue(t *testing.T) {
	const interval = time.Second
	quiet := ProgressQuiet(interval)
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	var a activity
	if got := a.due("t", 3, t0, interval); !slices.Equal(got, []int32{0, 1, 2}) {
		t.Fatalf("never written: due %v; want every partition", got)
	}
	if got := a.due("t", 3, t0.Add(interval/2), interval); len(got) != 0 {
		t.Fatalf("half an interval after progress: due %v; want none", got)
	}
	a.note("t", 1, 3, false, t0.Add(interval/2))       // an event on 1
	a.note("t", 2, 3, false, t0.Add(interval-quiet/2)) // a later one on 2
	if got := a.due("t", 3, t0.Add(interval/2+quiet), interval); !slices.Equal(got, []int32{1}) {
		t.Fatalf("quiet after an event on 1: due %v; want [1]", got)
	}
	if got := a.due("t", 3, t0.Add(interval), interval); !slices.Equal(got, []int32{0}) {
		t.Fatalf("one interval after progress on 0, an event on 2 just now: due %v; want [0]", got)
	}
	// Busy: events on 2 more often than quiet never make it due.
	for i := range 20 {
		now := t0.Add(interval + time.Duration(i)*quiet/2)
		a.note("t", 2, 3, false, now)
		if got := a.due("t", 3, now.Add(quiet/4), interval); slices.Contains(got, 2) {
			t.Fatalf("busy partition 2 due at step %d: %v", i, got)
		}
	}
}
