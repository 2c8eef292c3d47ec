package flow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/cdcflow/cdcflow/backpressure"
	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/pipeline"
	"github.com/cdcflow/cdcflow/sinks/kafka"
)

// Source is what the flow uses of capture (*replication.Reader).
type Source interface {
	// Run hands chunks of messages in WAL order to h, the first one opening
	// with a Connected message, until ctx is done or h or capture fails; it
	// calls h from one goroutine at a time and never hands a message twice
	// except after a reconnect, which opens with Connected again.
	Run(ctx context.Context, h capture.Handler) error
	// Confirm tells capture that every message up to lsn is durable
	// downstream, so it may report lsn to PostgreSQL. It must not block and
	// is called from another goroutine than Run's handler.
	Confirm(lsn capture.LSN)
}

// Publisher is what the flow uses of *kafka.Publisher in at-least-once mode.
type Publisher interface {
	// Publish hands b to Kafka and calls onAck once b's records are all
	// acknowledged or one failed. The implementation reports onAck in the
	// order Publish was called or not: the flow confirms nothing past a
	// batch whose onAck has not reported success either way. onAck must be
	// quick and is called from the publisher's goroutines.
	Publish(ctx context.Context, b kafka.Batch, onAck func(error))
	// Flush blocks until every published batch is reported, or ctx is done.
	Flush(ctx context.Context) error
}

// TxPublisher is what the flow uses of *kafka.TxPublisher in exactly-once
// mode. The caller has called Start and passes what it returned as
// Config.StoredPosition.
type TxPublisher interface {
	// Publish writes recs in one or more Kafka transactions, each storing
	// the Cut of its last record, and blocks until the last one committed.
	Publish(ctx context.Context, recs []kafka.TxRecord, commitTime time.Time) ([]byte, error)
	// MaxBytes is how many bytes of records one Kafka transaction holds
	// before it ends at the next cut.
	MaxBytes() int
}

// Config is a Flow's settings. The zero value of each field means its
// default.
type Config struct {
	// DeadLetterTopic is where a dead letter with no aggregate type goes
	// (the publisher's dead-letter topic; one with an aggregate type names
	// its aggregate's topic, and the publisher reroutes it). Required.
	DeadLetterTopic string
	// MaxQueueBytes bounds the bytes of records waiting between the
	// handler and the publisher. Default backpressure.DefaultMaxBytes.
	MaxQueueBytes int64
	// MaxQueueRecords bounds the number of chunks waiting between the
	// handler and the publisher. Default backpressure.DefaultMaxRecords.
	MaxQueueRecords int
	// StoredPosition is, in exactly-once mode, what TxPublisher's Start
	// returned: records at or below it are in Kafka and are skipped. nil:
	// nothing stored. Ignored in at-least-once mode.
	StoredPosition []byte
	// Logger receives the flow's log lines; nil discards them.
	Logger *slog.Logger
	// Metrics receives the queue's and the watermark's metrics; nil records
	// nothing.
	Metrics *backpressure.Metrics
	// ProgressInterval is how often, at least, an idle partition of an
	// event topic gets a progress record (progress.go). Default
	// kafka.DefaultProgressInterval (1 s). Used only when Parts.Progress is
	// set.
	ProgressInterval time.Duration
	// MapWorkers is how many goroutines map and encode chunks in parallel
	// (mapwork.go); their results are put back in stream order before the
	// queue. Default runtime.GOMAXPROCS(0).
	MapWorkers int
	// MapMetrics receives the mapping stage's metrics (metrics.go); nil
	// records nothing.
	MapMetrics *Metrics
	// MaxMapBytes bounds the estimated bytes of the decoded chunks in the
	// mapping stage (handed to a worker, not yet queued): capture's handler
	// waits, and capture stops reading WAL, while a chunk does not fit. A
	// chunk larger than the whole bound passes alone. Default
	// DefaultMaxMapBytes (16 MiB).
	MaxMapBytes int64
}

// Parts are the already-built components a Flow runs over. The Flow uses
// them exclusively while it runs; their owner closes them after Run returns.
type Parts struct {
	// Source hands on the capture messages and receives the confirmed
	// positions. Required.
	Source Source
	// Mapper maps the messages to events. It keeps per-transaction state,
	// so nothing else may use it while the Flow runs; the Flow's mapping
	// workers use it and its clones (Mapper.Clone). Required.
	Mapper *pipeline.Mapper
	// Mapping is the Mapper's mapping: topics and digest. Required.
	Mapping *pipeline.Mapping
	// Publisher publishes at least once. Exactly one of Publisher and Tx is
	// set.
	Publisher Publisher
	// Tx publishes exactly once, in Kafka transactions.
	Tx TxPublisher
	// Progress, if set, says which partitions are due a progress record
	// (the publisher in use: *kafka.Publisher or *kafka.TxPublisher); nil
	// writes none.
	Progress ProgressGate
}

// drainTimeout bounds the flush of what was handed to Kafka once the flow is
// stopping.
const drainTimeout = 10 * time.Second

// Flow is one run of the main job. Build it with New, then call Run once;
// Stats may be called at any time, from any goroutine.
type Flow struct {
	log     *slog.Logger
	src     Source
	mapper  *pipeline.Mapper
	mapping *pipeline.Mapping
	deadTo  string
	pub     Publisher
	bm      *backpressure.Metrics
	mm      *Metrics
	// Exactly-once mode: tx publishes instead of pub.
	tx    TxPublisher
	txMax int
	// cur numbers the records with their cursors (and, in exactly-once
	// mode, skips what Kafka holds); used only by the handler goroutine.
	cur   *cursorState
	queue *backpressure.Queue[*batch]
	ran   atomic.Bool

	// Mapping in parallel (mapwork.go): the capture handler hands each
	// chunk to a worker and to jobs, in stream order; the sequencer takes
	// jobs in that order once mapped. binder binds relations in stream
	// order; the dispatch state is the capture handler's.
	workers    []*mapWorker
	jobs       chan *mapJob
	budget     *mapBudget
	binder     *pipeline.Mapper
	lastConn   *capture.Connected
	inTx       bool
	prevWorker int
	nextWorker int

	// wm is created on the first Connected message, at the slot's position.
	wm      atomic.Pointer[backpressure.Watermark]
	wmReady chan struct{}

	// Handler state, used by the handler goroutine and, between chunks,
	// by the progress goroutine: hmu is held while a chunk is handled.
	hmu        sync.Mutex
	lastEnd    capture.LSN // the end of the last transaction handed on
	endTime    time.Time   // lastEnd's commit (or heartbeat) time; zero: none seen
	snapshot   bool        // a snapshot epoch is open (begun, not ended)
	commitTime time.Time
	records    []pipeline.Record
	encodeErr  error
	progress   ProgressGate
	every      time.Duration
	topics     []string          // the event topics
	aggOf      map[string]string // each event topic's aggregate type

	// reached is the position of the last progress marker (how far
	// decoding reached, from a keepalive): progress records carry it when
	// it is past lastEnd, with endTime (a keepalive's send time is not a
	// commit time); it is never confirmed.
	reached capture.LSN
	// moved wakes the progress loop when a chunk moved the position.
	moved chan struct{}

	// Counters for Stats.
	changes, events, deadLetters, published atomic.Int64
}

// batch is what travels from the handler to the publisher: the records of
// one chunk of capture messages and the watermark ticket that acknowledges it.
type batch struct {
	records    []pipeline.Record
	ticket     backpressure.Ticket
	commitTime time.Time
	// The source, the stream (kafka.StreamID) and each record's cursor:
	// exactly-once mode stores the cursors in Kafka's transactions,
	// at-least-once mode writes them as headers, so that a restart skips
	// what each partition holds.
	source  string
	stream  uint32
	cursors []kafka.Cursor
	// progress marks a batch of progress records: no ticket to complete.
	progress bool
}

// New returns a Flow over parts. It validates cfg and parts and, in
// exactly-once mode, parses cfg.StoredPosition; it starts nothing.
func New(cfg Config, parts Parts) (*Flow, error) {
	switch {
	case parts.Source == nil || parts.Mapper == nil || parts.Mapping == nil:
		return nil, errors.New("create flow: a source, a mapper and its mapping are required")
	case (parts.Publisher == nil) == (parts.Tx == nil):
		return nil, errors.New("create flow: exactly one of an at-least-once and an exactly-once publisher is required")
	case cfg.DeadLetterTopic == "":
		return nil, errors.New("create flow: a dead-letter topic is required")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &Flow{
		log:     log,
		src:     parts.Source,
		mapper:  parts.Mapper,
		mapping: parts.Mapping,
		deadTo:  cfg.DeadLetterTopic,
		pub:     parts.Publisher,
		bm:      cfg.Metrics,
		mm:      cfg.MapMetrics,
		wmReady: make(chan struct{}),
		moved:   make(chan struct{}, 1),
	}
	if parts.Progress != nil {
		f.progress = parts.Progress
		f.every = cfg.ProgressInterval
		if f.every <= 0 {
			f.every = kafka.DefaultProgressInterval
		}
		f.aggOf = map[string]string{}
		for _, agg := range parts.Mapping.AggregateTypes() {
			t := parts.Mapping.Topic(agg)
			f.topics = append(f.topics, t)
			f.aggOf[t] = agg
		}
	}
	var skip txCursor // at-least-once mode skips per partition, in the publisher
	if parts.Tx != nil {
		var err error
		if skip, err = parseTxCursor(cfg.StoredPosition); err != nil {
			return nil, fmt.Errorf("exactly-once: %w", err)
		}
		f.tx, f.txMax = parts.Tx, parts.Tx.MaxBytes()
	}
	f.cur = newCursorState(skip, parts.Mapping.Digest(), log)
	n := cfg.MapWorkers
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	f.binder = parts.Mapper.Clone()
	for i := range n {
		mp := parts.Mapper
		if i > 0 {
			mp = parts.Mapper.Clone()
		}
		f.workers = append(f.workers, &mapWorker{mapper: mp, jobs: make(chan *mapJob, workerBacklog)})
	}
	f.jobs = make(chan *mapJob, n*workerBacklog)
	f.mm.setWorkers(n)
	if cfg.MaxMapBytes < 0 {
		return nil, errors.New("create flow: MaxMapBytes is negative")
	}
	maxMap := cfg.MaxMapBytes
	if maxMap == 0 {
		maxMap = DefaultMaxMapBytes
	}
	f.budget = newMapBudget(maxMap)
	var err error
	f.queue, err = backpressure.NewQueue[*batch](backpressure.QueueConfig{
		MaxBytes:   cfg.MaxQueueBytes,
		MaxRecords: cfg.MaxQueueRecords,
		Metrics:    cfg.Metrics,
	})
	if err != nil {
		return nil, err
	}
	return f, nil
}

// Run runs capture, the publisher and the confirmer until ctx is done or one
// of them fails, and returns ctx's error or the first failure. On the way
// out capture stops first; then what was handed to Kafka is flushed (for at
// most 10 s) so that the next start re-sends as little as possible, and the
// last acknowledged position is logged. What was acknowledged but not yet
// confirmed is confirmed by capture's own shutdown or sent again on the next
// start. Run may be called once.
func (f *Flow) Run(ctx context.Context) error {
	if f.ran.Swap(true) {
		return errors.New("run flow: Run was already called")
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		err := f.src.Run(gctx, f.handle)
		// No more chunks: the workers and the sequencer finish what they
		// hold, then the sequencer closes the queue.
		close(f.jobs)
		for _, w := range f.workers {
			close(w.jobs)
		}
		return err
	})
	for _, w := range f.workers {
		g.Go(func() error {
			f.mapLoop(gctx, w)
			return nil
		})
	}
	g.Go(func() error { return f.sequence(gctx) })
	if f.tx != nil {
		g.Go(func() error { return f.publishTx(gctx) })
	} else {
		g.Go(func() error { return f.publish(gctx) })
	}
	g.Go(func() error { return f.confirm(gctx) })
	if f.progress != nil {
		g.Go(func() error { return f.progressLoop(gctx) })
	}
	err := g.Wait()

	if f.pub != nil {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), drainTimeout)
		defer cancel()
		if ferr := f.pub.Flush(dctx); ferr != nil {
			f.log.Warn("flush on shutdown", "err", ferr)
		}
	}
	if wm := f.wm.Load(); wm != nil {
		f.log.Info("stopped", "acknowledged_lsn", capture.LSN(wm.Confirmed()).String(),
			"changes", f.changes.Load(), "events", f.events.Load(), "dead_letters", f.deadLetters.Load())
	}
	if f.tx != nil {
		f.log.Info("exactly-once: records skipped as already in kafka", "skipped", f.cur.skipped)
	}
	return err
}

// Stats are a Flow's counters at one moment.
type Stats struct {
	// Changes is the number of row changes captured.
	Changes int64
	// Events is the number of events handed on, dead letters excluded.
	Events int64
	// DeadLetters is the number of dead letters handed on.
	DeadLetters int64
	// Acked is the number of records Kafka acknowledged (in exactly-once
	// mode: whose transaction committed).
	Acked int64
	// QueuedBatches and QueuedBytes are what waits between the handler and
	// the publisher.
	QueuedBatches int
	QueuedBytes   int64
	// Streaming is true once capture's session began; Confirmed is
	// meaningful only then.
	Streaming bool
	// Confirmed is the highest position every record up to which Kafka
	// holds: what the flow confirms to the source.
	Confirmed capture.LSN
}

// Stats returns the flow's counters. It is safe for concurrent use.
func (f *Flow) Stats() Stats {
	s := Stats{
		Changes:     f.changes.Load(),
		Events:      f.events.Load(),
		DeadLetters: f.deadLetters.Load(),
		Acked:       f.published.Load(),
	}
	s.QueuedBatches, s.QueuedBytes = f.queue.Len()
	if wm := f.wm.Load(); wm != nil {
		s.Streaming, s.Confirmed = true, capture.LSN(wm.Confirmed())
	}
	return s
}

// handleMapped hands on one mapped chunk: it numbers the chunk's records
// with their cursors and queues them with a watermark ticket; Queue.Put
// blocks when the budget is full, which stops the sequencer, then the
// workers, then capture from reading WAL (backpressure) while capture keeps
// the connection alive. It runs on the sequencer's goroutine, one chunk at
// a time, in stream order.
func (f *Flow) handleMapped(ctx context.Context, job *mapJob) error {
	f.hmu.Lock()
	defer f.hmu.Unlock()
	f.records = f.records[:0]
	f.cur.cursors = f.cur.cursors[:0]
	outs := job.outs
	// txFrom is where the records of the transaction in progress start in
	// this chunk: at its Begin, or at the chunk's start when it began in an
	// earlier chunk.
	txFrom := 0
	for i, m := range job.msgs {
		f.cur.track(m)
		switch m := m.(type) {
		case *capture.Connected:
			if f.wm.Load() == nil {
				f.wm.Store(backpressure.NewWatermark(uint64(m.StartLSN), f.bm))
				close(f.wmReady)
			}
			if f.lastEnd < m.StartLSN {
				f.lastEnd = m.StartLSN
			}
			// A new session reports how far it reached afresh.
			f.reached = 0
			f.cur.connected(m.Source, m.StartLSN)
		case *capture.Begin:
			txFrom = len(f.records)
		case *capture.Change:
			f.changes.Add(1)
		case *capture.Commit:
			f.commitTime = m.CommitTime
			f.endTime = m.CommitTime
		case *capture.Marker:
			switch m.Kind {
			case capture.MarkerHeartbeat:
				if !m.Time.IsZero() { // a source time, when the marker has one
					f.endTime = m.Time
				}
			case capture.MarkerProgress:
				if m.LSN > f.reached {
					f.reached = m.LSN
				}
			case capture.MarkerSnapshotBegin:
				f.snapshot = true
			case capture.MarkerSnapshotEnd:
				f.snapshot = false
			}
			// The end marker's records close their epoch in every
			// partition: a restart can tell the snapshot is durable.
			f.cur.closing = m.Kind == capture.MarkerSnapshotEnd
		}
		for len(outs) > 0 && outs[0].msg == i {
			f.emit(outs[0])
			outs = outs[1:]
		}
		f.cur.closing = false
		switch m := m.(type) {
		case *capture.Commit:
			// The transaction's records in this chunk (those its commit
			// emitted included) learn its end: the sink marks the last of
			// them in each partition, from which a reader learns that the
			// whole transaction is there.
			for j := txFrom; j < len(f.records); j++ {
				f.records[j].EndLSN = m.EndLSN
			}
			txFrom = len(f.records)
		case *capture.Marker:
			txFrom = len(f.records)
		}
		if job.err != nil && i == job.errAt {
			return job.err
		}
		if f.encodeErr != nil {
			return f.encodeErr
		}
	}
	if job.err != nil {
		return job.err // the context ended before the chunk was mapped
	}
	wm := f.wm.Load()
	if wm == nil {
		return errors.New("capture handed on messages before its session began")
	}
	// The chunk becomes confirmable at its last commit end (or heartbeat);
	// a chunk in the middle of a transaction confirms nothing new.
	pos := max(f.lastEnd, capture.Confirmable(job.msgs))
	if pos > f.lastEnd || f.reached > pos {
		select {
		case f.moved <- struct{}{}:
		default:
		}
	}
	f.lastEnd = pos
	if len(f.records) == 0 {
		return wm.Heartbeat(uint64(pos))
	}
	t, err := wm.Track(uint64(pos))
	if err != nil {
		return err
	}
	b := &batch{records: append([]pipeline.Record(nil), f.records...), ticket: t, commitTime: f.commitTime}
	b.source, b.stream, b.cursors = f.cur.source, f.cur.stream, append([]kafka.Cursor(nil), f.cur.cursors...)
	var size int64
	for _, r := range b.records {
		size += int64(len(r.Key) + len(r.Value))
	}
	return f.queue.Put(ctx, b, size)
}

// emit numbers one encoded event with its cursor and adds it to the chunk's
// records, unless Kafka (or this process) already has it.
func (f *Flow) emit(o mapOut) {
	if f.encodeErr != nil {
		return
	}
	cur, handOn := f.cur.next()
	if !handOn {
		return // already in Kafka, or already handed on by this process
	}
	if o.dead {
		f.deadLetters.Add(1)
	} else {
		f.events.Add(1)
	}
	if o.err != nil {
		f.encodeErr = o.err
		return
	}
	f.records = append(f.records, o.rec)
	f.cur.cursors = append(f.cur.cursors, kafka.Cursor{LSN: uint64(cur.lsn), N: cur.n, ClosesEpoch: f.cur.closing})
}

// confirm passes every advance of the watermark to capture, which reports it
// to PostgreSQL in its next standby status update.
func (f *Flow) confirm(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-f.wmReady:
	}
	wm := f.wm.Load()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wm.Advanced():
			f.src.Confirm(capture.LSN(wm.Confirmed()))
		}
	}
}
