// Package backpressure provides flow control between cdcflow's stages: a
// byte- and record-bounded Queue between capture and the sink, the ordered
// acknowledgement Watermark that decides which source position may be
// confirmed, and capped exponential Backoff with full jitter for retrying
// transient errors. Backoff (its Wait, or Retry around a call) is the one
// retry mechanism of the project: every loop that pauses before trying again
// uses it, and with Backoff.Log set each retry is logged at Warn with its
// attempt number and the pause before the next one.
//
// It imports no cdcflow package: positions are plain uint64 values (a
// PostgreSQL LSN in practice) and sizes are byte counts supplied by the caller.
//
// # Concurrency
//
// Queue and Watermark are safe for concurrent use by multiple goroutines.
// Their blocking calls take a context and return when it is done. Nothing in
// this package starts a goroutine. A Backoff is not safe for concurrent use:
// each retry loop owns one.
//
// # Metrics
//
// NewMetrics registers, on the registerer it is given:
//
//	cdcflow_backpressure_queue_bytes             gauge    bytes held by the Queue
//	cdcflow_backpressure_queue_records           gauge    items held by the Queue
//	cdcflow_backpressure_blocked_seconds_total   counter  time Put spent waiting for room
//	cdcflow_backpressure_watermark_lsn           gauge    the Watermark's confirmed position
//	cdcflow_backpressure_inflight_records        gauge    items tracked by the Watermark and not yet confirmed
//	cdcflow_backpressure_retries_total{op}       counter  retries made by Retry, by operation
//
// A nil *Metrics records nothing.
package backpressure
