package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/cdcflow/cdcflow/backpressure"
	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/capture/replication"
	"github.com/cdcflow/cdcflow/capture/snapshot"
	"github.com/cdcflow/cdcflow/internal/config"
	"github.com/cdcflow/cdcflow/internal/services"
	"github.com/cdcflow/cdcflow/pipeline"
	"github.com/cdcflow/cdcflow/sinks/kafka"
)

// flowOptions are what callers of runFlow may add to the configuration.
type flowOptions struct {
	// progress, when not nil, receives a live status line every second.
	progress io.Writer
	// status, when not nil, adds to the status line (the quickstart shows its
	// load generator there).
	status func() string
	// services run beside the flow, under its errgroup: each gets the flow's
	// context, its metrics registry and the brokers it publishes to, and
	// stops when the context is done. An error from one stops the flow.
	services []func(ctx context.Context, reg *prometheus.Registry, brokers []string) error
}

// runFlow runs capture → mapping → Kafka until ctx is done or a stage fails,
// starting the embedded broker when no brokers are configured.
func runFlow(ctx context.Context, cfg *config.Config, mapping *pipeline.Mapping, log *slog.Logger, opts flowOptions) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	mapper, err := pipeline.NewMapper(mapping, cfg.Mapping.MapperOptions())
	if err != nil {
		return err
	}
	rc := cfg.ReplicationConfig()
	if len(rc.Tables) == 0 {
		for _, t := range mapping.Tables() {
			rc.Tables = append(rc.Tables, t.String())
		}
	}
	rc.Snapshot.Progress = opts.progress
	reader, err := replication.New(rc, log, replication.NewMetrics(reg))
	if err != nil {
		return err
	}
	if err := reader.WithSnapshotMetrics(snapshot.NewMetrics(reg)); err != nil {
		return err
	}
	if err := replication.Preflight(ctx, rc); err != nil {
		if errors.As(err, new(*replication.NotReadyError)) {
			return err
		}
		log.Warn("preflight check failed", "err", err)
	}

	brokers := cfg.Kafka.Brokers
	if len(brokers) == 0 {
		dir := filepath.Join(cfg.DataDir, "kafka")
		broker, err := services.StartKafka(ctx, services.KafkaOptions{
			DataDir:    dir,
			SyncWrites: !cfg.Kafka.Embedded.NoSyncWrites,
			Host:       cfg.Kafka.Embedded.Host,
			Port:       cfg.Kafka.Embedded.Port,
			Partitions: int(cfg.Kafka.Topics.Partitions),
			Log:        log.With("component", "broker"),
		})
		if err != nil {
			return fmt.Errorf("start the embedded broker in %s: %w", dir, err)
		}
		defer broker.Close()
		brokers = broker.Addrs()
		log.Info("embedded broker started", "addrs", brokers, "data_dir", dir, "sync_writes", !cfg.Kafka.Embedded.NoSyncWrites)
	}
	pc := cfg.Kafka.PublisherConfig(brokers)
	// The mapping names its dead-letter topic (the catalog advertises it);
	// kafka.dead_letter_topic, when set, overrides it.
	if pc.DeadLetterTopic == "" {
		pc.DeadLetterTopic = mapping.DeadLetterTopic()
	}
	eos := cfg.Kafka.Delivery == config.DeliveryExactlyOnce
	// In exactly-once mode this publisher only prepares the topics; the
	// transactional one registers the Kafka metrics.
	pubReg := prometheus.Registerer(reg)
	if eos {
		pubReg = nil
	}
	pub, err := kafka.New(pc, log, pubReg)
	if err != nil {
		return err
	}
	defer pub.Close()
	topics := make([]string, 0, len(mapping.AggregateTypes()))
	for _, a := range mapping.AggregateTypes() {
		topics = append(topics, mapping.Topic(a))
	}
	if err := pub.EnsureTopics(ctx, topics); err != nil {
		return err
	}
	// Events too large for the topics' record limit become dead letters by
	// reference instead of stopping the flow (sinks/kafka FitEvents).
	maxEvent, err := pub.FitEvents(ctx, topics, mapping.MaxEventBytes())
	if err != nil {
		return err
	}
	mapper.LimitEventBytes(maxEvent)

	bm := backpressure.NewMetrics(reg)
	f := &flow{
		log:     log,
		mapper:  mapper,
		mapping: mapping,
		deadTo:  pc.DeadLetterTopic,
		reader:  reader,
		pub:     pub,
		bm:      bm,
	}
	if eos {
		// The transactional id and the position's key derive from the
		// slot: one slot is one stream.
		tx, err := kafka.NewTx(kafka.TxConfig{
			Config: pc, Name: rc.Slot,
			Timeout: cfg.Kafka.TransactionTimeout, MaxBytes: cfg.Kafka.TransactionMaxBytes,
			BatchMaxBytes: pub.BatchMaxBytes, // the batch caps FitEvents fitted to the topics
		}, log, reg)
		if err != nil {
			return err
		}
		defer tx.Close()
		stored, err := tx.Start(ctx)
		if err != nil {
			return fmt.Errorf("exactly-once: start: %w", err)
		}
		skip, err := parseTxCursor(stored)
		if err != nil {
			return fmt.Errorf("exactly-once: %w", err)
		}
		log.Info("exactly-once delivery", "transactional_id", "cdcflow-"+rc.Slot,
			"position_topic", pc.PositionTopic, "resume_after", string(stored))
		f.tx, f.txMax, f.eos = tx, cfg.Kafka.TransactionMaxBytes, newEOSState(skip, mapping.Digest(), log)
	}
	f.queue, err = backpressure.NewQueue[*batch](backpressure.QueueConfig{
		MaxBytes:   cfg.Backpressure.MaxBytes,
		MaxRecords: cfg.Backpressure.MaxRecords,
		Metrics:    bm,
	})
	if err != nil {
		return err
	}
	return f.run(ctx, cfg, reg, brokers, opts)
}

// flow is one run of the main job: it owns the stages' shared state.
type flow struct {
	log     *slog.Logger
	mapper  *pipeline.Mapper
	mapping *pipeline.Mapping
	deadTo  string
	reader  *replication.Reader
	pub     *kafka.Publisher
	bm      *backpressure.Metrics
	// Exactly-once mode: tx publishes instead of pub, eos is the handler's
	// bookkeeping (nil in at-least-once mode).
	tx    *kafka.TxPublisher
	txMax int
	eos   *eosState
	queue *backpressure.Queue[*batch]

	// wm is created on the first Connected message, at the slot's position.
	wm      atomic.Pointer[backpressure.Watermark]
	wmReady chan struct{}

	// Handler state, used only by the handler goroutine.
	lastEnd    capture.LSN // the end of the last transaction handed on
	commitTime time.Time
	records    []pipeline.Record
	encodeErr  error

	// Progress counters.
	changes, events, deadLetters, published atomic.Int64
}

// batch is what travels from the handler to the publisher: the records of
// one chunk of capture messages and the watermark ticket that acknowledges it.
type batch struct {
	records    []pipeline.Record
	ticket     backpressure.Ticket
	commitTime time.Time
	// Exactly-once mode: the source and each record's cursor.
	source  string
	cursors []recCursor
}

func (f *flow) run(ctx context.Context, cfg *config.Config, reg *prometheus.Registry, brokers []string, opts flowOptions) error {
	f.wmReady = make(chan struct{})
	var ready atomic.Bool

	// Capture stops first on a signal; the publisher then drains what was
	// handed on, and the last acknowledged position is confirmed through the
	// slot (capture's own shutdown) or at the next start.
	g, gctx := errgroup.WithContext(ctx)
	captureDone := make(chan struct{})
	g.Go(func() error {
		defer close(captureDone)
		err := f.reader.Run(gctx, func(ctx context.Context, msgs []capture.Message) error {
			ready.Store(true)
			return f.handle(ctx, msgs)
		})
		f.queue.Close()
		return err
	})
	if f.tx != nil {
		g.Go(func() error { return f.publishTx(gctx) })
	} else {
		g.Go(func() error { return f.publish(gctx) })
	}
	g.Go(func() error { return f.confirm(gctx) })
	if cfg.Metrics.Addr != "" {
		g.Go(func() error { return serveTailMetrics(gctx, cfg.Metrics.Addr, reg, &ready) })
	}
	if opts.progress != nil {
		g.Go(func() error { return f.showProgress(gctx, opts.progress, opts.status) })
	}
	for _, svc := range opts.services {
		g.Go(func() error { return svc(gctx, reg, brokers) })
	}
	err := g.Wait()

	// Drain: wait (bounded) for what was handed to Kafka to be acknowledged,
	// so the next start re-sends as little as possible.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if ferr := f.pub.Flush(dctx); ferr != nil {
		f.log.Warn("flush on shutdown", "err", ferr)
	}
	if wm := f.wm.Load(); wm != nil {
		f.log.Info("stopped", "acknowledged_lsn", capture.LSN(wm.Confirmed()).String(),
			"changes", f.changes.Load(), "events", f.events.Load(), "dead_letters", f.deadLetters.Load())
	}
	if f.eos != nil {
		f.log.Info("exactly-once: records skipped as already in kafka", "skipped", f.eos.skipped)
	}
	return err
}

// handle maps one chunk of capture messages to records and queues them with
// a watermark ticket; Queue.Put blocks when the budget is full, which stops
// capture from reading WAL (backpressure) while it keeps the connection alive.
func (f *flow) handle(ctx context.Context, msgs []capture.Message) error {
	f.records = f.records[:0]
	if f.eos != nil {
		f.eos.cursors = f.eos.cursors[:0]
	}
	for _, m := range msgs {
		var err error
		if f.eos != nil {
			f.eos.track(m)
		}
		switch m := m.(type) {
		case *capture.Connected:
			if f.wm.Load() == nil {
				f.wm.Store(backpressure.NewWatermark(uint64(m.StartLSN), f.bm))
				close(f.wmReady)
			}
			if f.lastEnd < m.StartLSN {
				f.lastEnd = m.StartLSN
			}
			if f.eos != nil {
				f.eos.connected(m.Source)
			}
			f.mapper.Connected(m)
		case *capture.Begin:
			f.mapper.Begin(m)
		case *capture.Change:
			f.changes.Add(1)
			err = f.mapper.Change(m, f.emit)
		case *capture.Commit:
			err = f.mapper.Commit(m, f.emit)
			f.commitTime = m.CommitTime
		case *capture.Marker:
			f.mapper.Marker(m, f.emit)
		}
		if err != nil {
			return fmt.Errorf("map changes: %w", err)
		}
		if f.encodeErr != nil {
			return f.encodeErr
		}
	}
	wm := f.wm.Load()
	if wm == nil {
		return errors.New("capture handed on messages before its session began")
	}
	// The chunk becomes confirmable at its last commit end (or heartbeat);
	// a chunk in the middle of a transaction confirms nothing new.
	pos := max(f.lastEnd, capture.Confirmable(msgs))
	f.lastEnd = pos
	if len(f.records) == 0 {
		return wm.Heartbeat(uint64(pos))
	}
	t, err := wm.Track(uint64(pos))
	if err != nil {
		return err
	}
	b := &batch{records: append([]pipeline.Record(nil), f.records...), ticket: t, commitTime: f.commitTime}
	if f.eos != nil {
		b.source, b.cursors = f.eos.source, append([]recCursor(nil), f.eos.cursors...)
	}
	var size int64
	for _, r := range b.records {
		size += int64(len(r.Key) + len(r.Value))
	}
	return f.queue.Put(ctx, b, size)
}

// emit encodes one event for Kafka.
func (f *flow) emit(e pipeline.Event) {
	if f.encodeErr != nil {
		return
	}
	var cur recCursor
	if f.eos != nil {
		var handOn bool
		if cur, handOn = f.eos.next(); !handOn {
			return // already in Kafka, or already handed on by this process
		}
	}
	// A dead letter keeps its aggregate's topic when it has one: the
	// publisher routes it to the dead-letter topic and records where it
	// would have gone.
	topic := f.deadTo
	if e.AggregateType != "" {
		topic = f.mapping.Topic(e.AggregateType)
	}
	if e.DeadLetter {
		f.deadLetters.Add(1)
	} else {
		f.events.Add(1)
	}
	r, err := pipeline.EncodeEvent(e, topic, pipeline.Structured)
	if err != nil {
		// An event the mapper made but the envelope refuses is a bug in
		// cdcflow, not bad input: stop rather than publish something wrong.
		f.encodeErr = fmt.Errorf("encode event %s at %s: %w", e.Type, e.Position, err)
		return
	}
	f.records = append(f.records, r)
	if f.eos != nil {
		f.eos.cursors = append(f.eos.cursors, cur)
	}
}

// publish takes batches from the queue and hands them to Kafka; each
// acknowledgement, reported in order, completes its watermark ticket.
func (f *flow) publish(ctx context.Context) error {
	failed := make(chan error, 1)
	var batches []*batch
	for {
		var err error
		batches, _, err = f.queue.Take(ctx, batches[:0], 64, 0)
		if errors.Is(err, backpressure.ErrClosed) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, b := range batches {
			select {
			case err := <-failed:
				return err
			default:
			}
			t := b.ticket
			n := int64(len(b.records))
			f.pub.Publish(ctx, kafka.Batch{Records: b.records, CommitTime: b.commitTime}, func(err error) {
				if err != nil {
					select {
					case failed <- fmt.Errorf("publish to kafka: %w", err):
					default:
					}
					return
				}
				f.published.Add(n)
				if err := f.wm.Load().Done(t); err != nil {
					select {
					case failed <- err:
					default:
					}
				}
			})
		}
	}
}

// confirm passes every advance of the watermark to capture, which reports it
// to PostgreSQL in its next standby status update.
func (f *flow) confirm(ctx context.Context) error {
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
			f.reader.Confirm(capture.LSN(wm.Confirmed()))
		}
	}
}

// showProgress rewrites one status line on stderr every second.
func (f *flow) showProgress(ctx context.Context, w io.Writer, status func() string) error {
	start := time.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(w)
			return ctx.Err()
		case <-tick.C:
		}
		confirmed := "-"
		if wm := f.wm.Load(); wm != nil {
			confirmed = capture.LSN(wm.Confirmed()).String()
		}
		records, bytes := f.queue.Len()
		secs := time.Since(start).Seconds()
		extra := ""
		if status != nil {
			extra = status() + " | "
		}
		fmt.Fprintf(w, "\r\033[K%schanges %d  events %d (%.0f/s)  acked %d  dead letters %d  queued %d (%d KiB)  confirmed %s",
			extra, f.changes.Load(), f.events.Load(), float64(f.events.Load())/secs, f.published.Load(),
			f.deadLetters.Load(), records, bytes>>10, confirmed)
	}
}
