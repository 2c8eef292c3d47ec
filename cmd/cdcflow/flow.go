package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/cdcflow/cdcflow/backpressure"
	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/capture/replication"
	"github.com/cdcflow/cdcflow/capture/snapshot"
	"github.com/cdcflow/cdcflow/flow"
	"github.com/cdcflow/cdcflow/internal/config"
	"github.com/cdcflow/cdcflow/internal/flowdisplay"
	"github.com/cdcflow/cdcflow/internal/metricsserver"
	"github.com/cdcflow/cdcflow/internal/standby"
	"github.com/cdcflow/cdcflow/pipeline"
	"github.com/cdcflow/cdcflow/sinks/kafka"
)

// flowOptions are what callers of runFlow may add to the configuration.
type flowOptions struct {
	// command names the command in cdcflow_up (default "run").
	command string
	// progress, when not nil, receives a live status line every second;
	// when nil, progress is logged every 10 s.
	progress io.Writer
	// status, when not nil, adds to the status line (the quickstart shows its
	// load generator there).
	status func() string
	// services run beside the flow, under its errgroup: each gets the flow's
	// context, its metrics registry and the brokers it publishes to, and
	// stops when the context is done. An error from one stops the flow.
	services []func(ctx context.Context, reg *prometheus.Registry, brokers []string) error
}

// runFlow builds the parts of the main job from cfg — the replication
// Reader, the mapper, the embedded broker when no brokers are configured,
// the publisher — and runs the flow (package flow) beside the metrics
// server, the status line and opts.services until ctx is done or one fails.
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
	rc.Snapshot.Progress = flowdisplay.Snapshot(opts.progress, log)
	rc.DeferDecoding = cfg.Capture.DeferDecoding // the mapper then decodes only the columns its rules read
	// Keepalives say how far decoding reached: progress records carry it
	// (read-your-writes past WAL that has no events, docs/query.md).
	rc.ProgressMarkers = true
	// Whether a snapshot epoch is durable in Kafka is known once the
	// publisher has read what Kafka holds (below), before capture starts.
	var snapshotDone func(capture.Source, uint64) bool
	rc.SnapshotDone = func(src capture.Source, epoch uint64) bool {
		return snapshotDone != nil && snapshotDone(src, epoch)
	}
	// Likewise the last position durable in Kafka, which lets a failover
	// slot resume on a promoted standby (docs/capture.md, "Database failover").
	var published func() (string, capture.LSN, bool)
	rc.Published = func() (string, capture.LSN, bool) {
		if published == nil {
			return "", 0, false
		}
		return published()
	}
	reader, err := replication.New(rc, log, replication.NewMetrics(reg))
	if err != nil {
		return err
	}
	if err := reader.WithSnapshotMetrics(snapshot.NewMetrics(reg)); err != nil {
		return err
	}
	if err := replication.Preflight(ctx, rc); err != nil {
		if errors.As(err, new(*replication.NotReadyError)) || errors.As(err, new(*replication.ConnectError)) {
			return sourceError(err)
		}
		log.Warn("preflight check failed", "err", err)
	}

	// Any number of instances may run with this configuration: the one
	// holding the capture lease streams, the others stand by (ready, with
	// their metrics served) until they take it. Nothing below touches the
	// slot or Kafka's state (the exactly-once fence, the resume offsets)
	// before the lease is taken.
	lease, err := replication.NewLease(cfg.LeaseConfig(), log, replication.NewLeaseMetrics(reg))
	if err != nil {
		return err
	}
	reader.WithLease(lease)
	var ready atomic.Bool
	var beside []func(context.Context) error
	if cfg.Metrics.Addr != "" {
		readyz := standby.Readiness(lease, reader.RetryingSince, metricsserver.Ready(&ready))
		metricsserver.RegisterProcess(reg, cmp.Or(opts.command, "run"), buildVersion(), readyz)
		beside = append(beside, func(ctx context.Context) error { return metricsserver.Serve(ctx, cfg.Metrics.Addr, reg, readyz) })
	}
	held, err := standby.Hold(ctx, lease, beside...)
	if err != nil {
		return leaseError(err)
	}
	defer held.Stop()

	brokers := cfg.Kafka.Brokers
	if len(brokers) == 0 {
		broker, err := startEmbeddedBroker(ctx, cfg, log)
		if err != nil {
			return err
		}
		defer broker.Close()
		brokers = broker.Addrs()
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

	fc := flow.Config{
		DeadLetterTopic: pc.DeadLetterTopic,
		MaxQueueBytes:   cfg.Backpressure.MaxBytes,
		MaxQueueRecords: cfg.Backpressure.MaxRecords,
		Logger:          log,
		Metrics:         backpressure.NewMetrics(reg),
		MapWorkers:      cfg.Mapping.Workers,
		MapMetrics:      flow.NewMetrics(reg),

		ProgressInterval: cfg.Kafka.ProgressInterval,
	}
	parts := flow.Parts{Source: readySource{reader, &ready}, Mapper: mapper, Mapping: mapping}
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
		if fc.StoredPosition, err = tx.Start(ctx); err != nil {
			return fmt.Errorf("exactly-once: start: %w", err)
		}
		snapshotDone = func(src capture.Source, epoch uint64) bool {
			return flow.SnapshotDone(fc.StoredPosition, src, epoch)
		}
		published = func() (string, capture.LSN, bool) { return flow.StoredSource(fc.StoredPosition) }
		parts.Tx, parts.Progress = tx, tx
	} else {
		// A restart skips the records each partition already holds, so a
		// clean stop repeats nothing (docs/delivery.md).
		held, err := pub.Resume(ctx, topics)
		if err != nil {
			return err
		}
		log.Info("at-least-once delivery", "partitions_resumed", held)
		snapshotDone = func(src capture.Source, epoch uint64) bool {
			// The epoch's records have the unit at its consistent point - 1.
			done, err := pub.EpochClosed(ctx, topics, kafka.StreamID(src.URI(), mapping.Digest()), epoch-1)
			if err != nil {
				log.Warn("could not tell whether the snapshot epoch is complete in kafka: snapshotting again", "epoch", epoch, "err", err)
			}
			return done
		}
		parts.Publisher, parts.Progress = pub, pub
	}
	f, err := flow.New(fc, parts)
	if err != nil {
		return err
	}
	if eos {
		log.Info("exactly-once delivery", "transactional_id", "cdcflow-"+rc.Slot,
			"position_topic", pc.PositionTopic, "resume_after", string(fc.StoredPosition))
	}

	line := flowdisplay.Line(opts.progress, log)
	also := []func(context.Context) error{func(ctx context.Context) error { return flowdisplay.Show(ctx, line, f.Stats, opts.status) }}
	for _, svc := range opts.services {
		also = append(also, func(ctx context.Context) error { return svc(ctx, reg, brokers) })
	}
	err = held.Run(f.Run, also...)
	return brokenRuleError(sourceError(leaseError(err)), rc.Slot, pc.DeadLetterTopic)
}

// leaseError says what a lost capture lease, or a fence that a standby's
// takeover explains, means for this process.
func leaseError(err error) error {
	switch {
	case errors.Is(err, replication.ErrLeaseLost):
		return fmt.Errorf("%w: this instance publishes nothing more and exits; started again, it stands by", err)
	case kafka.IsFenced(err) || errors.As(err, new(*kafka.CommitUnknownError)):
		return fmt.Errorf("%w (when a standby instance took over the capture lease this is expected: started again, this instance stands by)", err)
	}
	return err
}

// sourceError names the configuration key to fix when err is a failure to
// connect to the source that retrying cannot fix.
func sourceError(err error) error {
	if errors.As(err, new(*replication.ConnectError)) {
		return fmt.Errorf("source.dsn: %w", err)
	}
	return err
}

// readySource is the replication Reader that marks the flow ready (/readyz)
// once capture hands on its first chunk.
type readySource struct {
	*replication.Reader
	ready *atomic.Bool
}

// Run runs the Reader, setting ready before each chunk reaches h.
func (s readySource) Run(ctx context.Context, h capture.Handler) error {
	return s.Reader.Run(ctx, func(ctx context.Context, msgs []capture.Message) error {
		s.ready.Store(true)
		return h(ctx, msgs)
	})
}
