package backpressure

import (
	"fmt"
	"sync"
)

// Ticket identifies one item tracked by a Watermark. Tickets are issued in
// tracking order; the zero Ticket is never issued.
type Ticket uint64

// Watermark tracks items that are acknowledged out of order and computes the
// highest source position that may be confirmed: the position of the last
// item such that it and every item tracked before it are done.
//
// Items are tracked in source order with the position that becomes
// confirmable once they and all earlier items are done. For a source
// transaction split across several items, every item but the last carries
// the position confirmable before the transaction (the previous one's end),
// and the last carries the transaction's commit end LSN: confirming the
// earlier items then never confirms part of a transaction.
//
// The confirmed position starts at the initial value given to NewWatermark,
// which must be the slot's confirmed position (never 0: PostgreSQL treats a
// zero flush position as "unset"). It never moves backwards.
//
// A Watermark is safe for concurrent use; its zero value is not usable:
// create one with NewWatermark.
type Watermark struct {
	m *Metrics

	mu        sync.Mutex
	confirmed uint64
	last      uint64    // position of the last tracked item
	base      Ticket    // ticket of entries[0]
	entries   []wmEntry // entries[head:] are the tracked items not yet confirmed, in tracking order
	head      int
	advanced  chan struct{}
}

type wmEntry struct {
	pos  uint64
	done bool
}

// NewWatermark returns a Watermark whose confirmed position is initial. m may
// be nil.
func NewWatermark(initial uint64, m *Metrics) *Watermark {
	w := &Watermark{
		m:         m,
		confirmed: initial,
		base:      1,
		advanced:  make(chan struct{}, 1),
	}
	w.m.setWatermark(initial, 0)
	return w
}

// Track registers an item with position pos and returns its ticket. Positions
// must not decrease from one Track (or Heartbeat) to the next; a decreasing
// position is an error and tracks nothing. pos may be below the confirmed
// position (a snapshot row, or a transaction the source sends again after a
// restart): completing it then confirms nothing new.
func (w *Watermark) Track(pos uint64) (Ticket, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.track(pos)
}

func (w *Watermark) track(pos uint64) (Ticket, error) {
	if pos < w.last {
		return 0, fmt.Errorf("track position %d: before the last tracked position %d", pos, w.last)
	}
	w.last = pos
	w.entries = append(w.entries, wmEntry{pos: pos})
	w.m.setWatermark(w.confirmed, len(w.entries)-w.head)
	return w.base + Ticket(len(w.entries)-1), nil
}

// Done marks the item of ticket t as acknowledged and advances the confirmed
// position as far as the done items allow. Items may be done in any order. A
// ticket that was never issued, or is already done, is an error.
func (w *Watermark) Done(t Ticket) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.done(t)
}

func (w *Watermark) done(t Ticket) error {
	if t < w.base+Ticket(w.head) || t-w.base >= Ticket(len(w.entries)) {
		return fmt.Errorf("done ticket %d: not in flight", t)
	}
	e := &w.entries[t-w.base]
	if e.done {
		return fmt.Errorf("done ticket %d: already done", t)
	}
	e.done = true
	n := w.head
	for n < len(w.entries) && w.entries[n].done {
		n++
	}
	if n == w.head {
		return nil
	}
	before := w.confirmed
	if p := w.entries[n-1].pos; p > w.confirmed {
		w.confirmed = p
	}
	w.head = n
	// Compact once the confirmed prefix is at least half of the slice, so
	// that each entry is copied O(1) times on average.
	if w.head == len(w.entries) {
		w.base += Ticket(w.head)
		w.entries, w.head = w.entries[:0], 0
	} else if w.head > len(w.entries)/2 {
		w.base += Ticket(w.head)
		w.entries = w.entries[:copy(w.entries, w.entries[w.head:])]
		w.head = 0
	}
	w.m.setWatermark(w.confirmed, len(w.entries)-w.head)
	if w.confirmed != before {
		select {
		case w.advanced <- struct{}{}:
		default:
		}
	}
	return nil
}

// Heartbeat tracks an item at pos that is already done. With nothing in
// flight it advances the confirmed position to pos at once (a keepalive or an
// empty transaction the source asks to confirm); otherwise pos is confirmed
// when the items tracked before it are done. A decreasing position is an
// error, as for Track.
func (w *Watermark) Heartbeat(pos uint64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	t, err := w.track(pos)
	if err != nil {
		return err
	}
	return w.done(t)
}

// Confirmed returns the highest position such that it and every item tracked
// before it are done (or the initial position).
func (w *Watermark) Confirmed() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.confirmed
}

// InFlight returns the number of tracked items not yet confirmed (done items
// waiting behind an earlier pending one count too).
func (w *Watermark) InFlight() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.entries) - w.head
}

// Advanced returns a channel that receives a value after the confirmed
// position moves forward. Several advances may be reported by one value (the
// channel holds at most one), so a receiver reads Confirmed after it. Meant
// for one receiver, such as the loop sending standby status updates.
func (w *Watermark) Advanced() <-chan struct{} {
	return w.advanced
}
