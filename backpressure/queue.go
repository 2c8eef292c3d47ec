package backpressure

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrClosed is returned by Queue.Put after Close, and by Queue.Get and
// Queue.Take once the queue is closed and empty.
var ErrClosed = errors.New("backpressure: queue closed")

// Default budgets of a Queue.
const (
	DefaultMaxBytes   = 64 << 20 // 64 MiB
	DefaultMaxRecords = 100_000
)

// QueueConfig sets a Queue's budgets. The zero value means the defaults.
type QueueConfig struct {
	// MaxBytes bounds the sum of the sizes of the queued items.
	// Default DefaultMaxBytes (64 MiB).
	MaxBytes int64
	// MaxRecords bounds the number of queued items. Default DefaultMaxRecords.
	MaxRecords int
	// Metrics, if not nil, receives the queue's gauges and blocked time.
	Metrics *Metrics
}

// Queue is a FIFO bounded both in bytes and in items, meant to sit between
// capture and the sink: when the sink is slow or gone, Put blocks, capture
// stops reading the replication stream, and memory stays within the budget.
//
// An item larger than the whole byte budget is still accepted, alone: Put
// waits until the queue is empty and then admits it, so that one oversized
// item delays the stream instead of deadlocking it. The queue then holds more
// than MaxBytes until that item is taken.
//
// Items leave the budget when they are taken; whatever the consumer keeps in
// flight afterwards must be bounded by the consumer (the Kafka sink bounds it
// with its own buffered-bytes limit).
//
// Items come out in the order their Put calls returned. A Queue is safe for
// concurrent use; its zero value is not usable: create one with NewQueue.
type Queue[T any] struct {
	maxBytes   int64
	maxRecords int
	m          *Metrics

	mu      sync.Mutex
	items   []queued[T] // items[head:] are queued
	head    int
	bytes   int64
	closed  bool
	waiters int           // goroutines waiting on changed
	changed chan struct{} // closed and replaced when the state changes and someone waits
}

type queued[T any] struct {
	item T
	size int64
}

// NewQueue returns an empty queue with the budgets of cfg.
func NewQueue[T any](cfg QueueConfig) (*Queue[T], error) {
	if cfg.MaxBytes < 0 || cfg.MaxRecords < 0 {
		return nil, fmt.Errorf("create queue: negative budget (max bytes %d, max records %d)", cfg.MaxBytes, cfg.MaxRecords)
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.MaxRecords == 0 {
		cfg.MaxRecords = DefaultMaxRecords
	}
	q := &Queue[T]{
		maxBytes:   cfg.MaxBytes,
		maxRecords: cfg.MaxRecords,
		m:          cfg.Metrics,
		changed:    make(chan struct{}),
	}
	q.m.setQueue(0, 0)
	return q, nil
}

// Put appends item, whose size in bytes the caller states, blocking while the
// queue has no room for it. It returns ErrClosed if the queue is closed
// (before or while waiting) and the context's error if ctx is done first; in
// both cases the item was not queued. A negative size is an error.
func (q *Queue[T]) Put(ctx context.Context, item T, size int64) error {
	if size < 0 {
		return fmt.Errorf("queue put: negative size %d", size)
	}
	q.mu.Lock()
	var (
		blockedAt time.Time
		blocked   bool
	)
	for {
		if q.closed {
			q.mu.Unlock()
			q.noteBlocked(blocked, blockedAt)
			return ErrClosed
		}
		n := len(q.items) - q.head
		if n == 0 || (n < q.maxRecords && q.bytes+size <= q.maxBytes) {
			break
		}
		wait := q.changed
		q.waiters++
		q.mu.Unlock()
		if !blocked {
			blocked, blockedAt = true, time.Now()
		}
		select {
		case <-ctx.Done():
			q.mu.Lock()
			q.waiters--
			q.mu.Unlock()
			q.noteBlocked(blocked, blockedAt)
			return fmt.Errorf("queue put: %w", context.Cause(ctx))
		case <-wait:
		}
		q.mu.Lock()
		q.waiters--
	}
	q.items = append(q.items, queued[T]{item: item, size: size})
	q.bytes += size
	q.m.setQueue(q.bytes, len(q.items)-q.head)
	q.broadcast()
	q.mu.Unlock()
	q.noteBlocked(blocked, blockedAt)
	return nil
}

func (q *Queue[T]) noteBlocked(blocked bool, since time.Time) {
	if blocked {
		q.m.addBlocked(time.Since(since))
	}
}

// Get removes and returns the oldest item, blocking until there is one. It
// returns ErrClosed once the queue is closed and empty, and the context's
// error if ctx is done first.
func (q *Queue[T]) Get(ctx context.Context) (T, error) {
	items, _, err := q.Take(ctx, nil, 1, 0)
	if err != nil {
		var zero T
		return zero, err
	}
	return items[0], nil
}

// Take appends to dst, and returns, the oldest items: at least one, and then
// as many more as fit within maxRecords items and maxBytes bytes (a
// non-positive limit means no limit). The first item is taken whatever its
// size. It also returns the total size of the items taken. Take blocks until
// at least one item is queued; it returns ErrClosed once the queue is closed
// and empty, and the context's error if ctx is done first.
func (q *Queue[T]) Take(ctx context.Context, dst []T, maxRecords int, maxBytes int64) ([]T, int64, error) {
	q.mu.Lock()
	for len(q.items) == q.head {
		if q.closed {
			q.mu.Unlock()
			return dst, 0, ErrClosed
		}
		wait := q.changed
		q.waiters++
		q.mu.Unlock()
		select {
		case <-ctx.Done():
			q.mu.Lock()
			q.waiters--
			q.mu.Unlock()
			return dst, 0, fmt.Errorf("queue take: %w", context.Cause(ctx))
		case <-wait:
		}
		q.mu.Lock()
		q.waiters--
	}
	var (
		taken int64
		n     int
	)
	for q.head < len(q.items) {
		it := q.items[q.head]
		if n > 0 && ((maxRecords > 0 && n >= maxRecords) || (maxBytes > 0 && taken+it.size > maxBytes)) {
			break
		}
		dst = append(dst, it.item)
		taken += it.size
		n++
		q.items[q.head] = queued[T]{} // drop the reference for the garbage collector
		q.head++
	}
	q.bytes -= taken
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	} else if q.head > len(q.items)/2 {
		q.items = q.items[:copy(q.items, q.items[q.head:])]
		q.head = 0
	}
	q.m.setQueue(q.bytes, len(q.items)-q.head)
	q.broadcast()
	q.mu.Unlock()
	return dst, taken, nil
}

// Len returns the number of queued items and their total size.
func (q *Queue[T]) Len() (records int, bytes int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items) - q.head, q.bytes
}

// Close stops the queue from accepting items: blocked and later Puts return
// ErrClosed. Items already queued can still be taken; after that, Get and
// Take return ErrClosed. Close may be called more than once.
func (q *Queue[T]) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed = true
		q.broadcast()
	}
}

// broadcast wakes every waiter. The caller holds q.mu. Without waiters it
// does nothing, which keeps the uncontended path free of allocations.
func (q *Queue[T]) broadcast() {
	if q.waiters == 0 {
		return
	}
	close(q.changed)
	q.changed = make(chan struct{})
}
