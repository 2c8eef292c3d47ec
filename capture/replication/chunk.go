package replication

import (
	"time"

	"github.com/cdcflow/cdcflow/capture"
)

// boundaryLinger is how long a chunk that ends between transactions gathers
// more before it is handed to an idle handler: short enough to add no
// noticeable latency, long enough that a busy stream of small transactions
// travels in chunks of many transactions.
const boundaryLinger = time.Millisecond

// chunk gathers decoded messages until they are handed on, and bounds them:
// it is full at maxMsgs messages or maxBytes of wire size (the message that
// crosses the bound is in it).
type chunk struct {
	maxMsgs, maxBytes int

	msgs     []capture.Message
	bytes    int
	since    time.Time // when the first message came
	boundary bool      // msgs ends between transactions
}

// add appends m, whose wire size is size, received at now.
func (c *chunk) add(m capture.Message, size int, now time.Time) {
	if len(c.msgs) == 0 {
		c.since = now
	}
	c.msgs = append(c.msgs, m)
	c.bytes += size
	switch m.(type) {
	case *capture.Commit, *capture.Marker:
		c.boundary = true
	default:
		c.boundary = false
	}
}

// full reports whether the chunk reached its size bound.
func (c *chunk) full() bool {
	return len(c.msgs) >= c.maxMsgs || c.bytes >= c.maxBytes
}

// take returns the gathered messages and starts a new chunk.
func (c *chunk) take() []capture.Message {
	msgs := c.msgs
	c.msgs, c.bytes = make([]capture.Message, 0, min(len(msgs), c.maxMsgs)), 0
	return msgs
}

// linger decides when a chunk that is not full is handed on all the same:
// after max (ChunkLinger), or, when it ends between transactions and the
// handler is idle, after boundary. Handing on every small transaction alone
// would cost a goroutine hand-off per transaction and halve throughput, while
// a busy stream fills a chunk well within boundary.
type linger struct {
	max, boundary time.Duration
}

// due reports whether c (not empty) has waited long enough; idle says whether
// the handler could take it at once.
func (l linger) due(c *chunk, now time.Time, idle bool) bool {
	age := now.Sub(c.since)
	return c.boundary && idle && age >= l.boundary || age >= l.max
}

// deadline returns when c (not empty) is due at the latest. Past its
// boundary linger, a busy handler keeps the chunk gathering until max, so
// the boundary counts only while it is ahead.
func (l linger) deadline(c *chunk, now time.Time) time.Time {
	due := c.since.Add(l.max)
	if b := c.since.Add(l.boundary); c.boundary && now.Before(b) {
		due = minTime(due, b)
	}
	return due
}
