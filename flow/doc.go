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
// The mapping stage reports to the *Metrics in Config.MapMetrics (NewMetrics):
//
//   - cdcflow_flow_map_workers: the mapping workers (gauge)
//   - cdcflow_flow_map_busy_seconds_total: time the workers spent mapping
//     and encoding, summed over them; its rate over the workers is their
//     utilisation
//   - cdcflow_flow_map_chunks_in_flight: chunks handed to the workers and
//     not yet queued for Kafka (gauge)
//   - cdcflow_flow_map_bytes_in_flight: their estimated bytes, bounded by
//     Config.MaxMapBytes (gauge)
//   - cdcflow_flow_map_sequence_wait_seconds_total: time the sequencer
//     waited for the next chunk in stream order to be mapped
//   - cdcflow_flow_map_handoff_blocked_seconds_total: time capture's handler
//     waited for room in the mapping stage (WAL reading paused meanwhile)
//
// Its Queue and Watermark report to the *backpressure.Metrics in Config
// (cdcflow_backpressure_queue_bytes, cdcflow_backpressure_queue_records,
// cdcflow_backpressure_blocked_seconds_total,
// cdcflow_backpressure_watermark_lsn,
// cdcflow_backpressure_inflight_records), and the publishers report the
// Kafka ones. Stats exposes its counters for a status line.
package flow
