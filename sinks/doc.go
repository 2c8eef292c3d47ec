// Package sinks holds cdcflow's sinks, one subpackage each: sinks/kafka
// publishes records to Kafka, sinks/redisview applies events to Redis views.
// This package has no code; it states what every sink promises.
//
// # What every sink promises
//
//   - Order: records that share a routing key (an aggregate's id) are stored
//     in the order they were given; acknowledgements are reported in the
//     order the work was handed over, so a later acknowledgement never
//     confirms past earlier work still pending.
//   - Durability before acknowledgement: a sink acknowledges only what its
//     store holds durably (Kafka: acks=all; Redis: the write and its Kafka
//     offsets applied in one atomic step).
//   - Idempotency: every event carries a deterministic id and position, so
//     work replayed after a crash is recognised (Kafka consumers by id,
//     views by position) instead of applied twice.
//   - Errors are classified at the sink boundary (for example
//     kafka.IsRetryable): transient errors are retried with backoff,
//     records that can never be stored are dead-lettered, and anything else
//     stops the pipeline with a message naming what to fix.
//   - Shutdown: Close releases the sink's clients; work not yet
//     acknowledged is not confirmed upstream, so a restart resumes from the
//     last confirmed position and loses nothing.
//
// Sinks import pipeline for its types and their own client library; they
// never import capture.
package sinks
