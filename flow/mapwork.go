package flow

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/pipeline"
)

// Mapping in parallel, with the stream's order kept.
//
// Capture's handler (handle) gives each chunk of messages to one mapping
// worker and, in the same order, to the sequencer. A worker maps its chunks
// one after another with its own Mapper (the Flow's, or a clone sharing its
// relation bindings) and encodes the events; the sequencer takes the chunks
// in stream order, waits for each to be mapped, and does everything that
// depends on the order as before (handleMapped): the records' cursors and
// the exactly-once skip, the counters, the watermark ticket and the queue.
// So the queue receives exactly the batches, in exactly the order, that
// mapping on capture's goroutine gave; only the mapping and encoding run on
// several cores.
//
// A Mapper keeps the state of the transaction in progress (the events that
// gather rows until its commit), so a chunk that begins inside a
// transaction goes to the worker of the chunk before it; a chunk that
// begins between transactions may go to any worker, since Begin starts the
// Mapper afresh. Every worker's Mapper learns the session's source from the
// last Connected before its chunk. Relations are bound in stream order by
// the handler (Mapper.Bind) before any worker sees a change of them, so a
// table's new shape is checked against the shape before it, as on one
// goroutine.
//
// Memory stays bounded: at most workerBacklog chunks wait per worker, the
// decoded chunks in the stage hold at most Config.MaxMapBytes (estimated:
// chunkBytes), and the handler blocks (and capture stops reading WAL) when
// either bound is reached. A worker lets a chunk's rows go once it has
// mapped it (releaseValues): a mapped chunk waiting for the sequencer holds
// only its encoded events.

// workerBacklog is how many chunks may wait for each worker.
const workerBacklog = 2

// mapWorker is one mapping goroutine's Mapper and its chunks.
type mapWorker struct {
	mapper *pipeline.Mapper
	jobs   chan *mapJob
	conn   *capture.Connected // the last session the mapper was told of
}

// mapJob is one chunk on its way from capture to the queue.
type mapJob struct {
	msgs []capture.Message
	// conn is the session's Connected as of the chunk's first message
	// (nil: none yet).
	conn *capture.Connected
	// outs are the encoded events, in the order the Mapper emitted them.
	outs []mapOut
	// size is the chunk's estimated bytes, taken from the Flow's budget
	// until the chunk is queued.
	size int64
	// err is the mapping's error at message errAt: the chunk stops there.
	err   error
	errAt int
	done  chan struct{} // closed once mapped
}

// mapOut is one event of a chunk, encoded.
type mapOut struct {
	msg  int // the index of the message that emitted it
	rec  pipeline.Record
	dead bool
	err  error // the envelope refused the event: a bug in cdcflow, stop
}

// handle is capture's handler: it hands msgs to a mapping worker and to the
// sequencer, binding their relations first. It blocks while the sequencer
// is workerBacklog chunks per worker behind. It does not keep msgs (only
// the messages).
func (f *Flow) handle(ctx context.Context, msgs []capture.Message) error {
	job := &mapJob{msgs: slices.Clone(msgs), conn: f.lastConn, done: make(chan struct{})}
	w := f.prevWorker
	if !f.inTx {
		w = f.nextWorker
		f.nextWorker = (f.nextWorker + 1) % len(f.workers)
	}
	f.prevWorker = w
	for _, m := range msgs {
		switch m := m.(type) {
		case *capture.Connected:
			f.lastConn, f.inTx = m, false
		case *capture.Begin:
			f.inTx = true
		case *capture.Commit:
			f.inTx = false
		case *capture.Change:
			if m.Relation != nil && m.Op != capture.OpTruncate {
				// The error comes again from the worker, at this change.
				_ = f.binder.Bind(m.Relation)
			}
		}
	}
	job.size = chunkBytes(job.msgs)
	if err := f.takeBudget(ctx, job.size); err != nil {
		return err
	}
	f.mm.inFlight(1, job.size)
	if err := f.hand(ctx, f.jobs, job); err != nil {
		return err
	}
	return f.hand(ctx, f.workers[w].jobs, job)
}

// takeBudget takes n bytes of the mapping stage's budget, counting a wait
// as capture blocked.
func (f *Flow) takeBudget(ctx context.Context, n int64) error {
	start := time.Now()
	err := f.budget.take(ctx, n)
	if d := time.Since(start); d > 0 {
		f.mm.addHandoffBlocked(d)
	}
	return err
}

// hand sends job on to, at once when there is room, else waiting (and
// counting the wait as capture blocked) until there is or ctx is done.
func (f *Flow) hand(ctx context.Context, to chan<- *mapJob, job *mapJob) error {
	select {
	case to <- job:
		return nil
	default:
	}
	start := time.Now()
	defer func() { f.mm.addHandoffBlocked(time.Since(start)) }()
	select {
	case to <- job:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// mapLoop maps w's chunks until capture stops (w.jobs closed). Once ctx is
// done it only marks the chunks left as failed.
func (f *Flow) mapLoop(ctx context.Context, w *mapWorker) {
	for job := range w.jobs {
		if err := ctx.Err(); err != nil {
			job.err, job.errAt = err, 0
		} else {
			start := time.Now()
			f.mapChunk(w, job)
			f.mm.addBusy(time.Since(start))
		}
		close(job.done)
	}
}

// mapChunk maps and encodes one chunk with w's Mapper.
func (f *Flow) mapChunk(w *mapWorker, job *mapJob) {
	if job.conn != nil && job.conn != w.conn {
		w.mapper.Connected(job.conn)
		w.conn = job.conn
	}
	at := 0
	emit := func(e pipeline.Event) { job.outs = append(job.outs, f.encode(at, e)) }
	for i, m := range job.msgs {
		at = i
		var err error
		switch m := m.(type) {
		case *capture.Connected:
			w.mapper.Connected(m)
			w.conn = m
		case *capture.Begin:
			w.mapper.Begin(m)
		case *capture.Change:
			err = w.mapper.Change(m, emit)
		case *capture.Commit:
			err = w.mapper.Commit(m, emit)
		case *capture.Marker:
			w.mapper.Marker(m, emit)
		}
		if err != nil {
			job.err, job.errAt = fmt.Errorf("map changes: %w", err), i
			return
		}
	}
	releaseValues(job.msgs)
}

// releaseValues replaces the changes of a mapped chunk with what the
// sequencer still reads of them (that they are changes, and their
// transaction's FinalLSN): one value-less Change per run of changes of a
// transaction. A mapped chunk may wait for the sequencer, which waits for
// the queue, and its rows (decoded or not) need not wait with it: only its
// encoded events do.
func releaseValues(msgs []capture.Message) {
	var stub *capture.Change
	for i, m := range msgs {
		c, ok := m.(*capture.Change)
		if !ok {
			continue
		}
		if stub == nil || stub.FinalLSN != c.FinalLSN || stub.XID != c.XID {
			stub = &capture.Change{FinalLSN: c.FinalLSN, XID: c.XID, CommitTime: c.CommitTime, Epoch: c.Epoch}
		}
		msgs[i] = stub
	}
}

// encode encodes one event of message msg for Kafka.
func (f *Flow) encode(msg int, e pipeline.Event) mapOut {
	// A dead letter keeps its aggregate's topic when it has one: the
	// publisher routes it to the dead-letter topic and records where it
	// would have gone.
	topic := f.deadTo
	if e.AggregateType != "" {
		topic = f.mapping.Topic(e.AggregateType)
	}
	r, err := pipeline.EncodeEvent(e, topic, pipeline.Structured)
	if err != nil {
		// An event the mapper made but the envelope refuses is a bug in
		// cdcflow, not bad input: stop rather than publish something wrong.
		err = fmt.Errorf("encode event %s at %s: %w", e.Type, e.Position, err)
	}
	return mapOut{msg: msg, rec: r, dead: e.DeadLetter, err: err}
}

// sequence hands on the mapped chunks in stream order (handleMapped) until
// capture stopped and every chunk is handed on, or ctx is done or a chunk
// fails; then it closes the queue.
func (f *Flow) sequence(ctx context.Context) error {
	defer f.queue.Close()
	for job := range f.jobs {
		if err := f.awaitMapped(ctx, job); err != nil {
			return err
		}
		err := f.handleMapped(ctx, job)
		f.budget.give(job.size)
		f.mm.inFlight(-1, -job.size)
		if err != nil {
			return err
		}
	}
	return nil
}

// awaitMapped waits until job is mapped or ctx is done, counting the wait.
func (f *Flow) awaitMapped(ctx context.Context, job *mapJob) error {
	select {
	case <-job.done:
		return nil
	default:
	}
	start := time.Now()
	defer func() { f.mm.addSequenceWait(time.Since(start)) }()
	select {
	case <-job.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
