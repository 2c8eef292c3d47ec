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
	if got := a.due("t", 3, t0, interval, 0); !slices.Equal(got, []int32{0, 1, 2}) {
		t.Fatalf("never written: due %v; want every partition", got)
	}
	if got := a.due("t", 3, t0.Add(interval/2), interval, 0); len(got) != 0 {
		t.Fatalf("half an interval after progress: due %v; want none", got)
	}
	a.note("t", 1, 3, false, t0.Add(interval/2))       // an event on 1
	a.note("t", 2, 3, false, t0.Add(interval-quiet/2)) // a later one on 2
	if got := a.due("t", 3, t0.Add(interval/2+quiet), interval, 0); !slices.Equal(got, []int32{1}) {
		t.Fatalf("quiet after an event on 1: due %v; want [1]", got)
	}
	if got := a.due("t", 3, t0.Add(interval), interval, 0); !slices.Equal(got, []int32{0}) {
		t.Fatalf("one interval after progress on 0, an event on 2 just now: due %v; want [0]", got)
	}
	// A new position: every partition quiet for a quarter interval is due.
	if got := a.due("t", 3, t0.Add(interval+quiet), interval, 0x100); !slices.Equal(got, []int32{0, 1, 2}) {
		t.Fatalf("a new position: due %v; want [0 1 2]", got)
	}
	if got := a.due("t", 3, t0.Add(interval+2*quiet), interval, 0x100); len(got) != 0 {
		t.Fatalf("the same position again, a quiet time later: due %v; want none", got)
	}
	// Busy: events on 2 more often than quiet, each proving the position
	// (marked with its end LSN), never make it due.
	for i := range 20 {
		now := t0.Add(interval + 3*quiet + time.Duration(i)*quiet/2)
		a.note("t", 2, 3, false, now)
		a.proved("t", 2, 0x200+uint64(i))
		if got := a.due("t", 3, now.Add(quiet/4), interval, 0x200+uint64(i)); slices.Contains(got, 2) {
			t.Fatalf("busy partition 2 due at step %d: %v", i, got)
		}
	}
}

// TestActivityDuePrompt: while the source position moves past what a
// partition holds, a partition quiet for ProgressPrompt gets a progress
// record, at most one per ProgressPrompt; a partition busier than that, or
// whose own records prove the position, gets none.
func TestActivityDuePrompt(t *testing.T) {
	const interval = time.Second
	prompt := ProgressPrompt(interval)
	if prompt != 10*time.Millisecond {
		t.Fatalf("ProgressPrompt(1s) = %s; want 10ms", prompt)
	}
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	var a activity
	a.due("t", 3, t0, interval, 0x100) // first progress everywhere
	sent := map[int32]int{}
	for i := range 100 {
		now := t0.Add(time.Duration(i+1) * time.Millisecond)
		pos := 0x100 + uint64(i+1)
		a.note("t", 0, 3, false, now) // partition 0: an event every millisecond, of other transactions
		a.proved("t", 0, 0x100)
		if i%20 == 0 { // partition 2: an event every 20 ms, proving the position
			a.note("t", 2, 3, false, now)
			a.proved("t", 2, pos)
		}
		for _, p := range a.due("t", 3, now, interval, pos) {
			sent[p]++
		}
	}
	// 100 ms of a moving position: the quiet partition 1 gets one per
	// 10 ms; busy partition 0 none (its next event proves the position);
	// partition 2 one in each of its quiet stretches it does not prove.
	if sent[1] < 9 || sent[1] > 10 {
		t.Errorf("quiet partition behind the position: %d progress records in 100ms; want 9 or 10 (one per %s)", sent[1], prompt)
	}
	if sent[0] != 0 {
		t.Errorf("busy partition: %d progress records; want none", sent[0])
	}
	if sent[2] == 0 || sent[2] > 10 {
		t.Errorf("partition with an event every 20 ms: %d progress records; want some, at most one per %s", sent[2], prompt)
	}
	// The position stands still: partition 1, told it already, gets
	// nothing more (0 and 2 get the end of their burst, the rule above).
	now := t0.Add(200 * time.Millisecond)
	if got := a.due("t", 3, now, interval, 0x100+100); slices.Contains(got, 1) {
		t.Errorf("position told already: due %v; want not partition 1", got)
	}
}
