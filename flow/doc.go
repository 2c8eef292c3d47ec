// Package flow runs cdcflow's main job over already-built parts: capture →
// mapping → Kafka → the confirmed source position.
//
// A Flow takes chunks of capture messages from its Source, maps them with a
// *pipeline.Mapper (on a pool of workers, each with a clone of the Mapper,
// the chunks put back in stream order before anything depends on their
// order: mapwork.go), encodes the events as CloudEvents records, queues them in
// a byte-bounded backpressure.Queue with a watermark ticket, publishes them
// (at-least-once through a Publisher, or exactly-once in Kafka transactions
// through a TxPublisher) and confirms to the Source every position the
// backpressure.Watermark lets through. The rule it keeps: the Source is never
// told a position before Kafka holds every record up to it. Which position a
// chunk makes confirmable is capture.Confirmable's rule; docs/delivery.md
// describes both modes.
//
// # Imports
//
// flow imports capture (for its types), pipeline, backpressure and the types
// of sinks/kafka. It must not import capture's subpackages, pgx, pglogrepl,
// franz-go, go-redis or cmd: the parts come in through the narrow Source,
// Publisher and TxPublisher interfaces, which *replication.Reader,
// *kafka.Publisher and *kafka.TxPublisher satisfy (internal/archtest enforces
// it).
//
// # Concurrency
//
// New starts nothing. Run starts capture (whose handler hands chunks on),
// Config.MapWorkers mapping workers, the sequencer (which puts mapped chunks
// back in stream order and queues them), the publisher and the confirmer,
// and one more that writes progress records when Parts.Progress is set
// (progress.go); it owns them and returns once all have stopped:
// when ctx is done (capture stops first, then what was handed to Kafka is
// flushed for at most 10 s) or when one of them fails. Run may be called
// once. Stats is safe to call from any goroutine at any time.
//
// # Metrics
//
// flow registers no metric of its own: its Queue and Watermark report to the
// *backpressure.Metrics in Config (cdcflow_backpressure_queue_bytes,
// cdcflow_backpressure_queue_records,
// cdcflow_backpressure_blocked_seconds_total,
// cdcflow_backpressure_watermark_lsn,
// cdcflow_backpressure_inflight_records), and the publishers report the
// Kafka ones. Stats exposes its counters for a status line.
package flow
