package replication

import (
	"testing"
	"time"

	"github.com/cdcflow/cdcflow/capture"
)

func TestChunkFullAtItsSizeBound(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name              string
		maxMsgs, maxBytes int
		sizes             []int
		fullAfter         int // messages added when full() first holds; 0: never
	}{
		{"by messages", 3, 1 << 20, []int{10, 10, 10, 10}, 3},
		{"by bytes, the crossing message included", 100, 250, []int{100, 100, 100, 100}, 3},
		{"exactly the bytes", 100, 200, []int{100, 100, 100}, 2},
		{"below both", 10, 1000, []int{1, 1, 1}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := chunk{maxMsgs: tt.maxMsgs, maxBytes: tt.maxBytes}
			got := 0
			for i, size := range tt.sizes {
				c.add(&capture.Begin{}, size, t0)
				if c.full() && got == 0 {
					got = i + 1
				}
			}
			if got != tt.fullAfter {
				t.Errorf("full after %d messages; want %d", got, tt.fullAfter)
			}
		})
	}
}

func TestChunkTakeStartsANewChunk(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	c := chunk{maxMsgs: 2, maxBytes: 1 << 20}
	b, ch := &capture.Begin{}, &capture.Change{}
	c.add(b, 10, t0)
	c.add(ch, 10, t0.Add(time.Second))
	if !c.since.Equal(t0) {
		t.Errorf("since = %v; want the first message's time %v", c.since, t0)
	}
	got := c.take()
	if len(got) != 2 || got[0] != capture.Message(b) || got[1] != capture.Message(ch) {
		t.Fatalf("take() = %v; want the two messages in order", got)
	}
	if len(c.msgs) != 0 || c.bytes != 0 || c.full() {
		t.Errorf("after take: %d messages, %d bytes, full %v; want an empty chunk", len(c.msgs), c.bytes, c.full())
	}
	c.add(ch, 10, t0.Add(time.Minute))
	if !c.since.Equal(t0.Add(time.Minute)) || len(got) != 2 {
		t.Errorf("the next chunk starts at %v (taken chunk now %d long); want %v and the taken one untouched", c.since, len(got), t0.Add(time.Minute))
	}
}

func TestChunkBoundary(t *testing.T) {
	tests := []struct {
		last capture.Message
		want bool
	}{
		{&capture.Begin{}, false},
		{&capture.Change{}, false},
		{&capture.Commit{}, true},
		{&capture.Marker{Kind: capture.MarkerHeartbeat}, true},
	}
	for _, tt := range tests {
		c := chunk{maxMsgs: 10, maxBytes: 1000}
		c.add(&capture.Commit{}, 1, time.Time{})
		c.add(tt.last, 1, time.Time{})
		if c.boundary != tt.want {
			t.Errorf("chunk ending with %T: boundary = %v; want %v", tt.last, c.boundary, tt.want)
		}
	}
}

func TestLinger(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	l := linger{max: 20 * time.Millisecond, boundary: time.Millisecond}
	tests := []struct {
		name     string
		boundary bool
		age      time.Duration
		idle     bool
		due      bool
		deadline time.Duration // after since
	}{
		{"inside a transaction, young", false, 5 * time.Millisecond, true, false, 20 * time.Millisecond},
		{"inside a transaction, at linger", false, 20 * time.Millisecond, false, true, 20 * time.Millisecond},
		{"at a boundary, idle handler, young", true, 0, true, false, time.Millisecond},
		{"at a boundary, idle handler, past boundary linger", true, time.Millisecond, true, true, 20 * time.Millisecond},
		{"at a boundary, busy handler, past boundary linger", true, 2 * time.Millisecond, false, false, 20 * time.Millisecond},
		{"at a boundary, busy handler, at linger", true, 20 * time.Millisecond, false, true, 20 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &chunk{msgs: []capture.Message{&capture.Begin{}}, since: t0, boundary: tt.boundary}
			now := t0.Add(tt.age)
			if got := l.due(c, now, tt.idle); got != tt.due {
				t.Errorf("due(age %v, idle %v) = %v; want %v", tt.age, tt.idle, got, tt.due)
			}
			if got := l.deadline(c, now); !got.Equal(t0.Add(tt.deadline)) {
				t.Errorf("deadline(age %v) = since+%v; want since+%v", tt.age, got.Sub(t0), tt.deadline)
			}
		})
	}
}
