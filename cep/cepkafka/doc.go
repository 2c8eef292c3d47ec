// Package cepkafka runs the complex-event-processing engine (package cep)
// over Kafka, exactly once: a Runner reads every partition of the input
// event topics with read_committed isolation (no consumer group: the
// engine's merge needs all of them in one process), decodes and upcasts each
// record, feeds the engine, and per commit interval writes, in one Kafka
// transaction, the derived events (CloudEvents on their topic) and the
// engine's state with the input offsets it covers (chunks on a compacted
// changelog topic). On start it fences the previous incarnation of its
// transactional id, reads the changelog to its end, restores the state and
// seeks every input partition to the offset after the stored one, so a
// crash at any moment neither loses nor duplicates a derived event for
// read_committed readers. docs/cep.md describes the whole design.
//
// It imports cep, pipeline, backpressure (its backoff), franz-go and the
// Prometheus client; never capture's subpackages, sinks, flow, Redis,
// PostgreSQL or cmd (internal/archtest enforces it).
//
// Concurrency: Run owns its franz-go clients and returns when its context
// is done, after a last commit; a Runner serves one Run at a time. Ready is
// safe for concurrent use.
//
// Metrics (NewMetrics; a nil *Metrics records nothing):
//
//	cdcflow_cep_open_matches{rule}            gauge
//	cdcflow_cep_timers{rule}                  gauge
//	cdcflow_cep_timer_lag_seconds{rule}       histogram
//	cdcflow_cep_evaluation_seconds{rule}      histogram
//	cdcflow_cep_matches_total{rule}           counter
//	cdcflow_cep_derived_events_total{rule}    counter
//	cdcflow_cep_dropped_matches_total{rule}   counter
//	cdcflow_cep_late_events_total{rule}       counter
//	cdcflow_cep_evaluation_errors_total{rule} counter
//	cdcflow_cep_watermark_seconds             gauge
//	cdcflow_cep_buffered_records              gauge
//	cdcflow_cep_input_records_total           counter
//	cdcflow_cep_undecodable_records_total     counter
//	cdcflow_cep_duplicate_records_total       counter
//	cdcflow_cep_transactions_total{outcome}   counter
//	cdcflow_cep_transaction_seconds           histogram
//	cdcflow_cep_state_bytes                   gauge
package cepkafka
