package query

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/cdcflow/cdcflow/sinks/redisview"
)

// Batching concurrent entity reads
//
// Every entity GET is the applied positions of every partition and the
// entity's hash, one pipelined round trip. Under load many such reads are
// waiting at the same moment, and each round trip costs Redis and the
// server two system calls and Redis a command's overhead per read. So,
// while Serve runs, a read that finds others queued or in flight does not
// go to Redis itself: it queues for the batcher, one goroutine that sends every read queued while its previous
// pipeline was in flight as one pipeline (redisview's ReadEntities, which
// reads each partition's applied positions once for the whole batch: they
// are one moment, read before every entity of the batch), then hands each
// read its own answer or error.
//
// A lone read never waits for company: when no other entity read is
// queued or in flight it goes to Redis itself, at once and without a
// goroutine hand-off (counted as a batch of one), and the batcher sends
// whatever is queued as soon as its previous pipeline is back. A batch holds
// at most Config.ReadBatch reads, and only reads of one generation (a read
// of another generation, around a swap, starts the next batch). The
// pipeline runs under the batcher's context, not a request's: a request
// that is canceled stops waiting and its answer is dropped, the other reads
// of its batch are untouched. Without Serve (Handler alone), after Serve
// returned, or with ReadBatch 1, a read goes to Redis itself as before.

// entityRead is one read queued for the batcher.
type entityRead struct {
	snap     *redisview.Snapshot
	view, id string
	read     redisview.EntityRead
	err      error
	done     chan struct{} // receives once the answer is in read and err; buffered
}

// readPool recycles the entityReads whose answer was taken (an abandoned
// one, whose request was canceled, is left to the garbage collector: the
// batcher may still write it).
var readPool = sync.Pool{New: func() any { return &entityRead{done: make(chan struct{}, 1)} }}

// batcher sends queued entity reads to Redis in batches. It runs inside
// Serve (run); without it reads go to Redis one by one.
type batcher struct {
	max int
	m   *Metrics
	cur atomic.Pointer[batchRun] // nil unless run is running
}

// batchRun is one run of the batcher: its queue, and a channel closed when
// it stops (reads still waiting then give up).
type batchRun struct {
	reqs    chan *entityRead
	stopped chan struct{}
	// busy counts the entity reads queued or in flight, so that a read
	// that finds none goes alone without the hand-off.
	busy atomic.Int64
}

// errBatcherStopped answers the reads still queued when the server stops.
var errBatcherStopped = errors.New("read entity: the query server is stopping")

// readEntity reads id of view in snap: through the running batcher, or
// directly when there is none. It blocks until the answer is in or ctx is
// done.
func (b *batcher) readEntity(ctx context.Context, snap *redisview.Snapshot, view, id string) (redisview.EntityRead, error) {
	run := b.cur.Load()
	if run == nil {
		return snap.ReadEntity(ctx, view, id)
	}
	if run.busy.Add(1) == 1 {
		// Nothing else is being read: at once, as a batch of one.
		defer run.busy.Add(-1)
		b.m.batched(1)
		return snap.ReadEntity(ctx, view, id)
	}
	r := readPool.Get().(*entityRead)
	r.snap, r.view, r.id = snap, view, id
	select {
	case run.reqs <- r:
	case <-ctx.Done():
		run.busy.Add(-1)
		r.snap = nil
		readPool.Put(r)
		return redisview.EntityRead{}, ctx.Err()
	case <-run.stopped:
		run.busy.Add(-1)
		r.snap = nil
		readPool.Put(r)
		return redisview.EntityRead{}, errBatcherStopped
	}
	select {
	case <-r.done:
	case <-ctx.Done():
		return redisview.EntityRead{}, ctx.Err()
	case <-run.stopped:
		// run fails every read it took but did not answer before it closes
		// stopped; one answered meanwhile is in r.done.
		select {
		case <-r.done:
		default:
			return redisview.EntityRead{}, errBatcherStopped
		}
	}
	read, err := r.read, r.err
	*r = entityRead{done: r.done}
	readPool.Put(r)
	return read, err
}

// run batches the queued reads until ctx is done, then fails the reads
// still queued. It returns nil: Redis errors are the reads' own. With a
// batch size of 1 it returns at once and reads stay direct.
func (b *batcher) run(ctx context.Context) error {
	if b.max <= 1 {
		return nil
	}
	run := &batchRun{reqs: make(chan *entityRead, 2*b.max), stopped: make(chan struct{})}
	if !b.cur.CompareAndSwap(nil, run) {
		return errors.New("query server: Serve is already running")
	}
	defer func() {
		b.cur.Store(nil)
		for {
			select {
			case r := <-run.reqs:
				b.answer(run, r, redisview.EntityRead{}, errBatcherStopped)
			default:
				close(run.stopped)
				return
			}
		}
	}()
	batch := make([]*entityRead, 0, b.max)
	qs := make([]redisview.EntityQuery, 0, b.max)
	var next *entityRead // a read of another generation, first of the next batch
	for {
		first := next
		next = nil
		if first == nil {
			select {
			case <-ctx.Done():
				return nil
			case first = <-run.reqs:
			}
		}
		batch = append(batch[:0], first)
	fill:
		for len(batch) < b.max {
			select {
			case r := <-run.reqs:
				if r.snap.Generation() != first.snap.Generation() {
					next = r
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		qs = qs[:0]
		for _, r := range batch {
			qs = append(qs, redisview.EntityQuery{View: r.view, ID: r.id})
		}
		first.snap.ReadEntities(ctx, qs)
		b.m.batched(len(batch))
		for i, r := range batch {
			b.answer(run, r, qs[i].Read, qs[i].Err)
		}
		clear(batch)
		clear(qs)
		if next != nil && ctx.Err() != nil {
			b.answer(run, next, redisview.EntityRead{}, errBatcherStopped)
			return nil
		}
	}
}

// answer hands r its answer. r is not touched after: its reader may reuse
// it at once.
func (b *batcher) answer(run *batchRun, r *entityRead, read redisview.EntityRead, err error) {
	r.read, r.err = read, err
	run.busy.Add(-1)
	r.done <- struct{}{}
}
